//! Several writes of one transaction sent as one statement. A sale ends with half a dozen
//! writes whose answers it does not need (its ledger row, earning, history, event, and
//! the inventory lines it delivers); sent one by one, each is a round trip: to
//! PostgreSQL over the socket, to SQLite's connection thread and back. A [`Script`] sends
//! them at once: on SQLite as one multi-statement query (the driver runs every statement
//! of it, binding each from the shared arguments by number), on PostgreSQL as one
//! statement of data-modifying `WITH` parts.
//!
//! The parts must not depend on each other's effects: PostgreSQL runs them on one
//! snapshot, in no set order. At most one part is counted: it runs last (on PostgreSQL,
//! as the main statement) and [`ScriptSteps::run_script`] answers how many rows it
//! returned.

use std::fmt::Write as _;

use crate::db::{tx_steps, Engine, EngineOf};
use crate::Result;

/// An argument of a part.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

impl From<i64> for Arg {
    fn from(value: i64) -> Arg {
        Arg::Int(value)
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Arg {
        Arg::OptInt(value)
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Arg {
        Arg::Text(value.to_owned())
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Arg {
        Arg::Text(value)
    }
}

impl From<Option<&str>> for Arg {
    fn from(value: Option<&str>) -> Arg {
        Arg::OptText(value.map(str::to_owned))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Arg {
        Arg::OptText(value)
    }
}

/// One write: an `INSERT`, `UPDATE` or `DELETE` whose parameters are numbered from `$1`
/// over its own arguments. No `$` may appear in it other than as a parameter.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub(crate) sql: &'static str,
    pub(crate) args: Vec<Arg>,
}

impl Part {
    pub(crate) fn new(sql: &'static str, args: Vec<Arg>) -> Part {
        Part { sql, args }
    }
}

/// Writes sent as one statement.
#[derive(Debug, Default)]
pub(crate) struct Script {
    parts: Vec<Part>,
    counted: Option<Part>,
}

impl Script {
    pub(crate) fn new() -> Script {
        Script::default()
    }

    /// A script of one part (a step that is sometimes sent with others).
    pub(crate) fn one(part: Part) -> Script {
        Script {
            parts: vec![part],
            counted: None,
        }
    }

    /// A script of one counted part.
    pub(crate) fn counting(part: Part) -> Script {
        Script {
            parts: Vec::new(),
            counted: Some(part),
        }
    }

    /// Adds a part whose rows nobody counts.
    pub(crate) fn push(&mut self, part: Part) {
        self.parts.push(part);
    }

    /// Adds the part whose returned rows [`ScriptSteps::run_script`] counts.
    pub(crate) fn count(&mut self, part: Part) {
        debug_assert!(self.counted.is_none(), "a script counts one part");
        self.counted = Some(part);
    }

    /// Its parts in the order they run (the counted one last), and whether the last is
    /// counted: for a connection that runs them one by one.
    pub(crate) fn into_parts(self) -> (Vec<Part>, bool) {
        let mut parts = self.parts;
        let counted = self.counted.is_some();
        parts.extend(self.counted);
        (parts, counted)
    }

    /// The statement for `engine` and its arguments, in order (`None`: nothing to run).
    fn statement(self, engine: Engine) -> Option<(String, Vec<Arg>)> {
        let mut parts = self.parts;
        parts.extend(self.counted);
        let last = parts.len().checked_sub(1)?;
        let mut sql = String::new();
        let mut args = Vec::new();
        for (i, part) in parts.into_iter().enumerate() {
            let numbered = renumber(part.sql, args.len());
            match engine {
                Engine::Sqlite => {
                    sql.push_str(&numbered);
                    if i < last {
                        sql.push_str(";\n");
                    }
                }
                Engine::Postgres if i < last => {
                    let _ = write!(
                        sql,
                        "{} w{i} AS ({numbered})",
                        if i == 0 { "WITH" } else { "," }
                    );
                }
                Engine::Postgres => {
                    if i > 0 {
                        sql.push(' ');
                    }
                    sql.push_str(&numbered);
                }
            }
            args.extend(part.args);
        }
        Some((sql, args))
    }
}

impl Extend<Part> for Script {
    fn extend<I: IntoIterator<Item = Part>>(&mut self, parts: I) {
        self.parts.extend(parts);
    }
}

/// `sql` with each parameter `$n` as `$(n + offset)`.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => {
                let _ = write!(out, "{}", n + offset);
                rest = &rest[digits..];
            }
            Err(_) => continue,
        }
    }
    out.push_str(rest);
    out
}

/// Binds `$args` (a `Vec<Arg>`) to the sqlx query `$query`, in order.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::script::Arg::Int(v) => query.bind(v),
                $crate::script::Arg::OptInt(v) => query.bind(v),
                $crate::script::Arg::Text(v) => query.bind(v),
                $crate::script::Arg::OptText(v) => query.bind(v),
            };
        }
        query
    }};
}
pub(crate) use bind_args;

tx_steps! {
    pub(crate) trait ScriptSteps {
        /// Runs `script` in one round trip; answers the rows its counted part returned
        /// (0 without one).
        async fn run_script(&mut self, script: Script) -> Result<u64> {
            let Some((sql, args)) = script.statement(Self::ENGINE) else {
                return Ok(0);
            };
            let query = bind_args!(sqlx::query(&sql), args);
            Ok(query.fetch_all(&mut *self).await?.len() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_after_the_parts_before() {
        assert_eq!(
            renumber("a = $1 AND b = $12 OR c = $1", 3),
            "a = $4 AND b = $15 OR c = $4"
        );
        assert_eq!(renumber("no parameters", 5), "no parameters");
        assert_eq!(renumber("trailing $", 2), "trailing $");
    }

    fn script() -> Script {
        let mut script = Script::new();
        script.push(Part::new(
            "INSERT INTO a (x, y) VALUES ($1, $2)",
            vec![1.into(), "y".into()],
        ));
        script.count(Part::new(
            "UPDATE b SET x = $1 WHERE y = $2 RETURNING id",
            vec![2.into(), 3.into()],
        ));
        script.push(Part::new("DELETE FROM c WHERE x = $1", vec![4.into()]));
        script
    }

    #[test]
    fn sqlite_runs_the_parts_one_after_another_the_counted_last() {
        let (sql, args) = script().statement(Engine::Sqlite).expect("a statement");
        assert_eq!(
            sql,
            "INSERT INTO a (x, y) VALUES ($1, $2);\nDELETE FROM c WHERE x = $3;\n\
             UPDATE b SET x = $4 WHERE y = $5 RETURNING id"
        );
        assert_eq!(args.len(), 5);
    }

    #[test]
    fn postgres_makes_the_parts_with_queries_of_the_counted_one() {
        let (sql, _) = script().statement(Engine::Postgres).expect("a statement");
        assert_eq!(
            sql,
            "WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2)), w1 AS (DELETE FROM c WHERE x = $3) \
             UPDATE b SET x = $4 WHERE y = $5 RETURNING id"
        );
    }

    #[test]
    fn an_empty_script_is_no_statement() {
        assert!(Script::new().statement(Engine::Postgres).is_none());
    }
}
