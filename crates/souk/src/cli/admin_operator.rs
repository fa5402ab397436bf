//! `souk admin operator ...`: the web console's operator accounts.

use clap::Subcommand;
use souk_app::operators::{self, OperatorError};
use souk_app::passwords::Passwords;
use souk_core::clock::iso_millis;
use souk_store::Store;

#[derive(Subcommand, Debug)]
pub enum OperatorCommand {
    /// Create an operator; prints the one-time password alone on the last line. Owners
    /// and admins enrol a second factor (TOTP) at their first sign-in.
    Create {
        #[arg(long)]
        email: String,
        /// owner, admin or support.
        #[arg(long)]
        role: String,
    },
    /// The operators (never their passwords or secrets).
    List,
}

pub async fn run(store: &Store, command: OperatorCommand, now: i64) -> anyhow::Result<()> {
    match command {
        OperatorCommand::Create { email, role } => {
            let passwords = Passwords::new(1, 2);
            match operators::create(store, &passwords, &email, &role, now).await {
                Ok(created) => {
                    println!(
                        "created operator {} <{}> role {}",
                        created.id,
                        created.email,
                        created.role.as_str()
                    );
                    println!("{}", created.password);
                    Ok(())
                }
                Err(OperatorError::EmailTaken) => {
                    anyhow::bail!(
                        "an operator with the email {} exists",
                        email.trim().to_lowercase()
                    )
                }
                Err(e) => Err(e.into()),
            }
        }
        OperatorCommand::List => {
            for op in store.operators().await? {
                println!(
                    "{} {} {} {} two-factor {} since {}",
                    op.id,
                    op.email,
                    op.role,
                    op.status,
                    if op.totp_enabled { "on" } else { "off" },
                    iso_millis(op.created_at)
                );
            }
            Ok(())
        }
    }
}
