//! `souk admin ...`: the operator's commands. Each area adds its subcommands here.

use anyhow::bail;
use clap::Subcommand;
use souk_app::accounts::{self, CreateUser, CreateUserError};
use souk_app::balances::{self, Account, AdjustBalance, BalanceError};
use souk_core::balance::BalanceRequest;
use souk_core::Money;
use souk_store::{Level, Store};

use super::admin_catalogue::{self, CategoryCommand, ShopCommand};
use super::admin_money::{self, DisputeCommand, SettingCommand, WithdrawalCommand};
use super::admin_users::{self, BalanceManage, KeyCommand, UserManage};
use super::parse_amount;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Balances, always through the ledger.
    Balance {
        #[command(subcommand)]
        command: BalanceCommand,
    },
    /// Upstream providers.
    Provider {
        #[command(subcommand)]
        command: super::admin_provider::ProviderCommand,
    },
    /// Orders waiting on a provider.
    Orders {
        #[command(subcommand)]
        command: super::admin_provider::OrdersCommand,
    },
    /// Check every money and stock invariant over the whole database; exits non-zero
    /// naming each violation.
    Audit,
    /// SMS verification: catalogue, gateways, numbers, providers, test SMS.
    Sms {
        #[command(subcommand)]
        command: super::admin_sms::SmsCommand,
    },
    /// Categories, with positions, the active flag and translations.
    Category {
        #[command(subcommand)]
        command: CategoryCommand,
    },
    /// Subcategories, with positions, the active flag and translations.
    Subcategory {
        #[command(subcommand)]
        command: CategoryCommand,
    },
    /// Shops.
    Shop {
        #[command(subcommand)]
        command: ShopCommand,
    },
    /// API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Operator settings (early cancel, commission, hold period).
    Setting {
        #[command(subcommand)]
        command: SettingCommand,
    },
    /// Buyers' disputes.
    Dispute {
        #[command(subcommand)]
        command: DisputeCommand,
    },
    /// Suppliers' withdrawal requests.
    Withdrawal {
        #[command(subcommand)]
        command: WithdrawalCommand,
    },
    /// Buyers' top-ups: list, show, re-check, approve or reject manual transfers.
    Payment {
        #[command(subcommand)]
        command: super::admin_payments::PaymentCommand,
    },
    /// Payment gateways: settings, keys, limits, fee; a key check.
    Gateway {
        #[command(subcommand)]
        command: super::admin_payments::GatewayCommand,
    },
    /// The SMTP relay e-mail goes through: settings (password from SOUK_SMTP_PASSWORD),
    /// a test e-mail.
    Smtp {
        #[command(subcommand)]
        command: super::admin_smtp::SmtpCommand,
    },
    /// Telegram notifications: the bot's token and switch, a check, the operator's link.
    Telegram {
        #[command(subcommand)]
        command: super::admin_telegram::TelegramCommand,
    },
    /// Operator accounts of the web console (/console).
    Operator {
        #[command(subcommand)]
        command: super::admin_operator::OperatorCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; prints the new API key alone on the last line.
    Create {
        #[arg(long)]
        email: String,
        /// Opening balance, e.g. 100 or 25.50.
        #[arg(long)]
        balance: Option<String>,
        /// Make the user a supplier, with a shop.
        #[arg(long)]
        supplier: bool,
        /// The supplier's shop name (default: the email's local part).
        #[arg(long, requires = "supplier")]
        shop: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    #[command(flatten)]
    Manage(UserManage),
}

#[derive(Subcommand, Debug)]
pub enum BalanceCommand {
    /// Top up a balance (a negative amount debits, never below zero).
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    #[command(flatten)]
    Manage(BalanceManage),
}

pub async fn run(store: &Store, command: AdminCommand, now: i64) -> anyhow::Result<()> {
    match command {
        AdminCommand::User {
            command:
                UserCommand::Create {
                    email,
                    balance,
                    supplier,
                    shop,
                    name,
                },
        } => {
            let initial_balance = match balance {
                Some(b) => parse_amount(&b)?,
                None => Money::ZERO,
            };
            let shop_name = supplier
                .then(|| shop.unwrap_or_else(|| souk_core::supply::default_shop_name(&email)));
            let command = CreateUser {
                email: email.clone(),
                name,
                initial_balance,
                shop_name,
            };
            let created_line = |id: &str| {
                println!(
                    "created user {id} <{}> balance {}",
                    email.trim().to_lowercase(),
                    initial_balance.display2()
                )
            };
            // Audited as the command line: the user, then the shop, each in its transaction.
            let actor = souk_app::operators::Acting::command_line();
            let created = match accounts::create_user(store, &actor, command, now).await {
                Ok(created) => created,
                Err(CreateUserError::NoShop { user_id, error }) => {
                    created_line(&user_id);
                    return Err(error.into());
                }
                Err(CreateUserError::NotCreated(e)) => return Err(e.into()),
            };
            created_line(&created.user_id);
            if let Some(shop) = created.shop_id {
                println!("supplier shop {shop}");
            }
            println!("{}", created.api_key);
            Ok(())
        }
        AdminCommand::Balance {
            command:
                BalanceCommand::Add {
                    email,
                    amount,
                    note,
                },
        } => {
            let command = AdjustBalance {
                account: Account::Email(email.clone()),
                amount: parse_amount(&amount)?,
                request: BalanceRequest::QuickBySign,
                note,
            };
            let balance = match balances::adjust_balance_as(
                store,
                &souk_app::operators::Acting::command_line(),
                command,
                now,
            )
            .await
            {
                Ok(done) => done.balance,
                Err(BalanceError::NoUserWithEmail) => bail!("no user with email {email}"),
                Err(BalanceError::Store(e)) => {
                    return Err(anyhow::Error::new(e).context("balance not changed"))
                }
                // `QuickBySign` refuses nothing; the store decides.
                Err(e @ BalanceError::Refused(_)) => return Err(e.into()),
            };
            println!(
                "balance of {} is now {}",
                email.trim().to_lowercase(),
                balance.display2()
            );
            Ok(())
        }
        AdminCommand::Provider { command } => {
            super::admin_provider::provider(store, command, now).await
        }
        AdminCommand::Orders { command } => {
            super::admin_provider::orders(store, command, now).await
        }
        AdminCommand::Sms { command } => super::admin_sms::run(store, command, now).await,
        AdminCommand::User {
            command: UserCommand::Manage(command),
        } => admin_users::run_user(store, command, now).await,
        AdminCommand::Balance {
            command: BalanceCommand::Manage(command),
        } => admin_users::run_balance(store, command, now).await,
        AdminCommand::Category { command } => {
            admin_catalogue::run(store, Level::Category, command, now).await
        }
        AdminCommand::Subcategory { command } => {
            admin_catalogue::run(store, Level::Subcategory, command, now).await
        }
        AdminCommand::Shop { command } => admin_catalogue::run_shop(store, command, now).await,
        AdminCommand::Key { command } => admin_users::run_key(store, command, now).await,
        AdminCommand::Setting { command } => admin_money::run_setting(store, command, now).await,
        AdminCommand::Dispute { command } => admin_money::run_dispute(store, command, now).await,
        AdminCommand::Withdrawal { command } => {
            admin_money::run_withdrawal(store, command, now).await
        }
        AdminCommand::Payment { command } => {
            super::admin_payments::run_payment(store, command, now).await
        }
        AdminCommand::Gateway { command } => {
            super::admin_payments::run_gateway(store, command, now).await
        }
        AdminCommand::Smtp { command } => super::admin_smtp::run(store, command, now).await,
        AdminCommand::Telegram { command } => super::admin_telegram::run(store, command, now).await,
        AdminCommand::Operator { command } => super::admin_operator::run(store, command, now).await,
        AdminCommand::Audit => {
            let progress = crate::progress::Progress::start("auditing every invariant");
            let report = store.audit().await;
            drop(progress);
            let report = report?;
            println!(
                "audited {} users, {} orders, {} ledger rows, {} delivered stock lines",
                report.users, report.orders, report.ledger_rows, report.delivered_lines
            );
            for v in &report.violations {
                println!("VIOLATION: {v}");
            }
            if report.violations.is_empty() {
                println!("all invariants hold");
                Ok(())
            } else {
                bail!("{} invariant violation(s) found", report.violations.len())
            }
        }
    }
}
