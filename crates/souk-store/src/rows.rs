//! Structs read from a row by column name, on both engines.
//!
//! `row_struct!` declares the struct and writes what `#[derive(sqlx::FromRow)]` would:
//! each field read by its name with `try_get`. It exists so that sqlx's proc-macro crates
//! are not built at all: they pull in the whole driver stack a second time, compiled for
//! the build host (about 30 s of every clean build, on the critical path of CI).

/// Declares a struct and its `FromRow` for SQLite and PostgreSQL rows.
macro_rules! row_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty ),*
        }

        impl<'r> ::sqlx::FromRow<'r, ::sqlx::sqlite::SqliteRow> for $name {
            fn from_row(row: &'r ::sqlx::sqlite::SqliteRow) -> ::sqlx::Result<Self> {
                use ::sqlx::Row as _;
                Ok(Self { $( $field: row.try_get(stringify!($field))? ),* })
            }
        }

        impl<'r> ::sqlx::FromRow<'r, ::sqlx::postgres::PgRow> for $name {
            fn from_row(row: &'r ::sqlx::postgres::PgRow) -> ::sqlx::Result<Self> {
                use ::sqlx::Row as _;
                Ok(Self { $( $field: row.try_get(stringify!($field))? ),* })
            }
        }
    };
}

pub(crate) use row_struct;
