//! `souk admin category|subcategory|shop ...`: the catalogue's structure and its shops.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use clap::Subcommand;
use souk_app::operator_catalogue;
use souk_app::operators::Acting;
use souk_app::shops::{self, Owner};
use souk_core::supply;
use souk_store::{CategoryPatch, CategoryRecord, Level, NewCategory, NewSubcategory, Store};

use super::admin_users::user_by_email;

#[derive(Subcommand, Debug)]
pub enum CategoryCommand {
    /// Every category (or subcategory), inactive ones included.
    List {
        /// Subcategories: only those of this category id.
        #[arg(long)]
        category: Option<String>,
    },
    /// Create one; prints its id last.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        /// Subcategories: the parent category id.
        #[arg(long)]
        category: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        image_url: Option<String>,
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        position: i64,
        /// Create it hidden from buyers.
        #[arg(long)]
        inactive: bool,
        /// A translation, `LANG:FIELD=TEXT` (FIELD is name or description); repeatable.
        #[arg(long = "translation")]
        translations: Vec<String>,
    },
    /// Change one.
    Update {
        #[arg(long)]
        id: String,
        #[arg(long)]
        slug: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        image_url: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        position: Option<i64>,
        /// Show (true) or hide (false) it.
        #[arg(long)]
        active: Option<bool>,
        /// Subcategories: move under this category id.
        #[arg(long)]
        category: Option<String>,
        /// `LANG:FIELD=TEXT`, or `LANG:FIELD=` to remove; repeatable.
        #[arg(long = "translation")]
        translations: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ShopCommand {
    /// Every shop with its owner.
    List,
    /// Create a shop for a user (who becomes a supplier); prints its id last.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    /// Rename a shop or hide it from buyers.
    Update {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        active: Option<bool>,
    },
}

/// `LANG:FIELD=TEXT` options as translations.
fn translations(given: &[String]) -> anyhow::Result<Vec<supply::Translation>> {
    let mut map: BTreeMap<String, BTreeMap<String, Option<String>>> = BTreeMap::new();
    for t in given {
        let (key, value) = t
            .split_once('=')
            .with_context(|| format!("bad translation {t:?} (use LANG:FIELD=TEXT)"))?;
        let (lang, field) = key
            .split_once(':')
            .with_context(|| format!("bad translation {t:?} (use LANG:FIELD=TEXT)"))?;
        map.entry(field.trim().to_owned())
            .or_default()
            .insert(lang.trim().to_owned(), Some(value.to_owned()));
    }
    Ok(supply::parse_translations(&map, &["name", "description"])?)
}

fn print(c: &CategoryRecord) {
    let parent = c
        .category_id
        .as_deref()
        .map(|p| format!(" category {p}"))
        .unwrap_or_default();
    let translated: Vec<String> = c
        .translations
        .iter()
        .map(|(field, lang, _)| format!("{lang}:{field}"))
        .collect();
    println!(
        "{} {:<20} position {:<4} {}{} {:?}{}",
        c.id,
        c.slug,
        c.position,
        if c.active { "active  " } else { "inactive" },
        parent,
        c.name,
        if translated.is_empty() {
            String::new()
        } else {
            format!(" [{}]", translated.join(" "))
        }
    );
}

pub async fn run(
    store: &Store,
    level: Level,
    command: CategoryCommand,
    now: i64,
) -> anyhow::Result<()> {
    match command {
        CategoryCommand::List { category } => {
            if level == Level::Category && category.is_some() {
                bail!("--category lists subcategories");
            }
            for c in store.categories_of(level, category.as_deref()).await? {
                print(&c);
            }
            Ok(())
        }
        CategoryCommand::Create {
            slug,
            name,
            category,
            description,
            image_url,
            position,
            inactive,
            translations: given,
        } => {
            let slug = supply::check_slug(&slug)?;
            let name = supply::check_name("name", &name)?;
            let list = translations(&given)?;
            let name = supply::translated(name, "name", &list);
            let description = supply::translated(description, "description", &list);
            // Audited as the command line, in the transaction that creates it.
            let actor = Acting::command_line();
            let (created, _) = match (level, category) {
                (Level::Category, None) => {
                    let category = NewCategory {
                        slug,
                        name,
                        description,
                        image_url,
                        position,
                    };
                    operator_catalogue::create_category(store, &actor, category, !inactive, now)
                        .await?
                }
                (Level::Subcategory, Some(category_id)) => {
                    let subcategory = NewSubcategory {
                        category_id,
                        slug,
                        name,
                        description,
                        image_url,
                        position,
                    };
                    operator_catalogue::create_subcategory(
                        store,
                        &actor,
                        subcategory,
                        !inactive,
                        now,
                    )
                    .await?
                }
                (Level::Category, Some(_)) => {
                    bail!("a category has no parent (--category is for subcategories)")
                }
                (Level::Subcategory, None) => bail!("--category is required for a subcategory"),
            };
            println!("{}", created.id);
            Ok(())
        }
        CategoryCommand::Update {
            id,
            slug,
            name,
            description,
            image_url,
            position,
            active,
            category,
            translations: given,
        } => {
            let patch = CategoryPatch {
                slug,
                name: name.map(|n| supply::check_name("name", &n)).transpose()?,
                description,
                image_url: image_url.map(|u| Some(u).filter(|u| !u.is_empty())),
                position,
                active,
                category_id: category,
                translations: translations(&given)?,
            };
            operator_catalogue::change(store, &Acting::command_line(), level, &id, &patch, now)
                .await?;
            println!("updated {id}");
            Ok(())
        }
    }
}

pub async fn run_shop(store: &Store, command: ShopCommand, now: i64) -> anyhow::Result<()> {
    match command {
        ShopCommand::List => {
            for s in store.all_shops().await? {
                println!(
                    "{} {:<24} {} owner {} listings {} reviews {}",
                    s.id,
                    s.name,
                    if s.active { "active  " } else { "inactive" },
                    s.owner_email,
                    s.listings,
                    s.review_count
                );
            }
            Ok(())
        }
        ShopCommand::Create { email, name } => {
            let owner = user_by_email(store, &email).await?;
            let name = supply::check_name("name", &name)?;
            // Audited as the command line, in the transaction that opens it.
            let (shop, _) =
                shops::create_audited(store, &Acting::command_line(), Owner::Id(owner), &name, now)
                    .await?;
            println!("{}", shop.id);
            Ok(())
        }
        ShopCommand::Update { id, name, active } => {
            let name = name.map(|n| supply::check_name("name", &n)).transpose()?;
            shops::update_audited(
                store,
                &Acting::command_line(),
                &id,
                name.as_deref(),
                active,
                now,
            )
            .await?;
            println!("updated shop {id}");
            Ok(())
        }
    }
}
