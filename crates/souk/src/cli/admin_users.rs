//! `souk admin user ...` (beyond `create`), `souk admin key ...` and
//! `souk admin balance adjust`: users, their keys and balances.

use anyhow::bail;
use clap::Subcommand;
use souk_app::accounts;
use souk_app::balances::{self, Account, AdjustBalance, BalanceError};
use souk_app::operator_users;
use souk_app::operators::Acting;
use souk_core::balance::{BalanceKind, BalanceRefusal, BalanceRequest};
use souk_core::clock::iso_millis;
use souk_store::{Store, UserStatus};

use super::parse_amount;

#[derive(Subcommand, Debug)]
pub enum UserManage {
    /// Users, optionally those whose email contains TEXT.
    List {
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// One user with their shops and keys.
    Show {
        #[arg(long)]
        email: String,
    },
    /// Suspend a user: their keys answer `Invalid API key` at once.
    Suspend {
        #[arg(long)]
        email: String,
    },
    /// Lift a suspension.
    Reactivate {
        #[arg(long)]
        email: String,
    },
    /// Make a user a supplier with a shop (their first shop, or a new one).
    Supplier {
        #[arg(long)]
        email: String,
        /// The new shop's name (default: the email's local part).
        #[arg(long)]
        shop: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// A user's keys (never the keys themselves).
    List {
        #[arg(long)]
        email: String,
    },
    /// One more key for a user; prints it alone on the last line.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Revoke every key of a user and issue a new one, printed alone on the last line.
    Rotate {
        #[arg(long)]
        email: String,
    },
    /// Revoke one key by its id.
    Revoke {
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum BalanceManage {
    /// Adjust a balance either way, with a note saying why (never below zero).
    Adjust {
        #[arg(long)]
        email: String,
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[arg(long)]
        note: String,
    },
}

/// The id of the user with `email`, or a one-line error.
pub async fn user_by_email(store: &Store, email: &str) -> anyhow::Result<String> {
    match store.user_id_by_email(email).await? {
        Some(id) => Ok(id),
        None => bail!("no user with email {}", email.trim()),
    }
}

pub async fn run_user(store: &Store, command: UserManage, now: i64) -> anyhow::Result<()> {
    match command {
        UserManage::List { email, limit } => {
            let (users, total) = store.users(email.as_deref(), limit, 0).await?;
            for u in &users {
                println!(
                    "{} {:<32} {:<9} {} balance {}",
                    u.id,
                    u.email,
                    u.status,
                    if u.is_supplier {
                        "supplier"
                    } else {
                        "buyer   "
                    },
                    souk_core::Money::from_micros(u.balance).display2()
                );
            }
            println!("{} of {total} users", users.len());
            Ok(())
        }
        UserManage::Show { email } => {
            let id = user_by_email(store, &email).await?;
            let u = store.user(&id).await?;
            println!("id        {}", u.id);
            println!("email     {}", u.email);
            println!("status    {}", u.status);
            println!("supplier  {}", u.is_supplier);
            println!(
                "balance   {}",
                souk_core::Money::from_micros(u.balance).display2()
            );
            for (shop, name, active) in store.shops_of(&id).await? {
                println!(
                    "shop      {shop} {name}{}",
                    if active { "" } else { " (inactive)" }
                );
            }
            for k in store.api_keys(&id).await? {
                println!(
                    "key       {} {}... {}{}",
                    k.id,
                    k.key_prefix,
                    k.label,
                    k.revoked_at
                        .map(|at| format!(" revoked {}", iso_millis(at)))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        UserManage::Suspend { email } => {
            let id = user_by_email(store, &email).await?;
            operator_users::set_status(
                store,
                &Acting::command_line(),
                &id,
                UserStatus::Suspended,
                now,
            )
            .await?;
            println!("suspended {}", email.trim().to_lowercase());
            Ok(())
        }
        UserManage::Reactivate { email } => {
            let id = user_by_email(store, &email).await?;
            operator_users::set_status(
                store,
                &Acting::command_line(),
                &id,
                UserStatus::Active,
                now,
            )
            .await?;
            println!("reactivated {}", email.trim().to_lowercase());
            Ok(())
        }
        UserManage::Supplier { email, shop } => {
            let id = user_by_email(store, &email).await?;
            let (shop, _) =
                accounts::make_supplier(store, &Acting::command_line(), &id, shop.as_deref(), now)
                    .await?;
            println!(
                "{} is a supplier with shop {shop}",
                email.trim().to_lowercase()
            );
            Ok(())
        }
    }
}

pub async fn run_key(store: &Store, command: KeyCommand, now: i64) -> anyhow::Result<()> {
    match command {
        KeyCommand::List { email } => {
            let id = user_by_email(store, &email).await?;
            for k in store.api_keys(&id).await? {
                println!(
                    "{} {}... {:<8} created {}{}",
                    k.id,
                    k.key_prefix,
                    if k.revoked_at.is_none() {
                        "active"
                    } else {
                        "revoked"
                    },
                    iso_millis(k.created_at),
                    if k.label.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", k.label)
                    }
                );
            }
            Ok(())
        }
        KeyCommand::Create { email, label } => {
            let id = user_by_email(store, &email).await?;
            let (key_id, key) =
                operator_users::create_key(store, &Acting::command_line(), &id, &label, now)
                    .await?;
            println!("created key {key_id} for {}", email.trim().to_lowercase());
            println!("{key}");
            Ok(())
        }
        KeyCommand::Rotate { email } => {
            let id = user_by_email(store, &email).await?;
            let (key, _) =
                operator_users::rotate_key(store, &Acting::command_line(), &id, now).await?;
            println!(
                "revoked every key of {}; the new key:",
                email.trim().to_lowercase()
            );
            println!("{key}");
            Ok(())
        }
        KeyCommand::Revoke { id } => {
            operator_users::revoke_key(store, &Acting::command_line(), None, id.trim(), now)
                .await?;
            println!("revoked key {}", id.trim());
            Ok(())
        }
    }
}

pub async fn run_balance(store: &Store, command: BalanceManage, now: i64) -> anyhow::Result<()> {
    match command {
        BalanceManage::Adjust {
            email,
            amount,
            note,
        } => {
            let command = AdjustBalance {
                account: Account::Email(email.clone()),
                amount: parse_amount(&amount)?,
                request: BalanceRequest::Kind(BalanceKind::Adjust),
                note,
            };
            let balance =
                match balances::adjust_balance_as(store, &Acting::command_line(), command, now)
                    .await
                {
                    Ok(done) => done.balance,
                    Err(BalanceError::Refused(BalanceRefusal::NoteMissing)) => {
                        bail!("an adjustment needs a note saying why")
                    }
                    Err(BalanceError::Refused(BalanceRefusal::Note(e))) => return Err(e.into()),
                    Err(BalanceError::NoUserWithEmail) => {
                        bail!("no user with email {}", email.trim())
                    }
                    Err(BalanceError::Store(e)) => {
                        return Err(anyhow::Error::new(e).context("balance not changed"))
                    }
                    Err(e @ BalanceError::Refused(_)) => return Err(e.into()),
                };
            println!(
                "balance of {} is now {}",
                email.trim().to_lowercase(),
                balance.display2()
            );
            Ok(())
        }
    }
}
