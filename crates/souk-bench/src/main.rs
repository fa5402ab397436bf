//! `souk-bench`: seeds a large catalogue into an empty database and drives a running node
//! with a closed-loop HTTP load generator. `bench/catalogue.sh` puts the two together.
#![forbid(unsafe_code)]

mod catalogue_data;
mod http;
mod load;
mod preauth;
mod render;
mod seed;
mod seed_orders;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "souk-bench",
    version,
    about = "Benchmark harness for Souk: catalogue seeding and an HTTP load generator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fill an empty database with a realistic catalogue and a buyer; prints the buyer's
    /// API key alone on the last line of standard output.
    Seed(seed::SeedArgs),
    /// A database for the order benchmark: one inventory product with many stock lines
    /// and a buyer who can afford them; prints the service number and the key on the
    /// last two lines.
    SeedOrders(seed_orders::SeedOrdersArgs),
    /// Closed-loop HTTP load: C workers, one keep-alive connection each; prints one line
    /// of JSON with throughput and latency percentiles.
    Load(load::LoadArgs),
    /// Poll a URL until it answers 200 and print how long that took, in milliseconds,
    /// counted from `--started-at-us` (for cold-start measurements).
    Wait(load::WaitArgs),
    /// The server CPU time of hostile requests before authentication, beside a small
    /// request with a wrong key; one JSON line per request.
    Preauth(preauth::PreauthArgs),
    /// Time one /api/v2 call in-process (no sockets, no load generator): the server's own
    /// cost per call, over a seeded database.
    Render(render::RenderArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("souk-bench: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Seed(args) => seed::run(args).await,
            Command::SeedOrders(args) => seed_orders::run(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Wait(args) => load::wait(args).await,
            Command::Render(args) => render::run(args).await,
            Command::Preauth(args) => preauth::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("souk-bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
