//! retrace: parses the command line and runs the chosen verb (`cmd/`). Nothing else.

use clap::Parser;

// glibc's allocator spent a fifth of a 20,000-node conversion consolidating free chunks
// (benches/README.md); mimalloc does the same work without that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Read OTEL_* before anything else runs (it also removes the exporter variables from
    // our environment, see sink::config::EnvSnapshot::take).
    let env = retrace::sink::config::EnvSnapshot::take();
    let cli = retrace::cmd::Cli::parse();
    std::process::exit(cli.command.run(&env));
}
