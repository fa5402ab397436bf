//! `souk admin smtp ...`: the operator's SMTP relay, the operator API's
//! `/notifiers/smtp` as commands (the rules are `souk_app::mail`'s).

use anyhow::bail;
use clap::Subcommand;
use souk_app::mail::{self, MailError, SmtpPatch, SmtpView};
use souk_store::Store;

#[derive(Subcommand, Debug)]
pub enum SmtpCommand {
    /// The relay's settings (the password is never shown).
    Show,
    /// Set the relay up or change it; options left out keep their value.
    Set(Box<SmtpSet>),
    /// Send a test e-mail now with the stored settings (on or off).
    Test {
        #[arg(long)]
        to: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct SmtpSet {
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    #[arg(long)]
    disable: bool,
    /// The relay's host name or address.
    #[arg(long)]
    host: Option<String>,
    /// Default: 587 for starttls, 465 for tls, 25 for plain.
    #[arg(long)]
    port: Option<u16>,
    /// starttls, tls, or plain (plain only for a relay on a private or loopback address).
    #[arg(long)]
    security: Option<String>,
    /// The login; empty, with an empty password, for a relay without authentication.
    /// The password is read from SOUK_SMTP_PASSWORD only (an option would stay in the
    /// shell history): unset keeps it, set and empty removes it.
    #[arg(long)]
    username: Option<String>,
    /// The sender, e.g. "Shop <noreply@shop.example>".
    #[arg(long)]
    from: Option<String>,
    /// Where the operator's own events are mailed (empty: none).
    #[arg(long)]
    operator_email: Option<String>,
    /// The site's address for links in mails (https://shop.example), when
    /// SOUK_PUBLIC_URL is not set; without either, no reset or verification links are
    /// mailed.
    #[arg(long)]
    site_url: Option<String>,
}

/// Where `smtp set` reads the password from.
pub const PASSWORD_ENV: &str = "SOUK_SMTP_PASSWORD";

fn show(v: &SmtpView) {
    let auth = if v.username.is_empty() {
        "no authentication".to_owned()
    } else {
        format!(
            "user {} (password {})",
            v.username,
            if v.has_password { "set" } else { "missing" }
        )
    };
    println!(
        "smtp {} {}:{} {} {} from {:?} operator e-mail {:?}",
        if v.enabled { "enabled" } else { "disabled" },
        if v.host.is_empty() { "-" } else { &v.host },
        v.port,
        if v.security.is_empty() {
            "-"
        } else {
            &v.security
        },
        auth,
        v.from,
        v.operator_email,
    );
    if !v.site_url.is_empty() {
        println!("links in mails point at {}", v.site_url);
    }
}

fn mail_error(e: MailError) -> anyhow::Error {
    match e {
        MailError::Store(e) => anyhow::Error::new(e),
        other => anyhow::anyhow!("{other}"),
    }
}

pub async fn run(store: &Store, command: SmtpCommand, now: i64) -> anyhow::Result<()> {
    match command {
        SmtpCommand::Show => {
            show(&mail::view(store).await?);
            Ok(())
        }
        SmtpCommand::Set(set) => {
            let SmtpSet {
                enable,
                disable,
                host,
                port,
                security,
                username,
                from,
                operator_email,
                site_url,
            } = *set;
            let password = std::env::var(PASSWORD_ENV).ok();
            let patch = SmtpPatch {
                enabled: (enable || disable).then_some(enable),
                host,
                port,
                security,
                username,
                password,
                from,
                operator_email,
                site_url,
            };
            // Audited as the command line (a password only as replaced).
            let v = mail::configure_as(
                store,
                &souk_app::operators::Acting::command_line(),
                patch,
                now,
            )
            .await
            .map_err(mail_error)?;
            show(&v);
            Ok(())
        }
        SmtpCommand::Test { to } => {
            let allow_private = crate::config::allow_private_upstreams();
            match mail::send_test(store, allow_private, &to).await {
                Ok(()) => {
                    println!("test e-mail sent to {}", to.trim().to_lowercase());
                    Ok(())
                }
                Err(MailError::Smtp(e)) => bail!("The test e-mail was not sent: {e}"),
                Err(e) => Err(mail_error(e)),
            }
        }
    }
}
