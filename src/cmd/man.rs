//! `retrace man [VERB]`: manual pages (roff), from the same clap definitions as --help.

use clap::CommandFactory;

use crate::report::{exit, report};
use crate::sink::config::EnvSnapshot;

/// Print a manual page (roff) on stdout: retrace man > retrace.1; retrace man dbt > retrace-dbt.1
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The verb whose page to print [default: the main page, which lists the verbs]
    pub verb: Option<String>,
}

impl Args {
    pub fn run(self, _: &EnvSnapshot) -> i32 {
        let main = super::Cli::command().disable_help_subcommand(true);
        let command = match &self.verb {
            None => main,
            Some(verb) => match main.find_subcommand(verb) {
                // The page of `retrace dbt` is retrace-dbt(1), as git's and cargo's are.
                Some(sub) => sub
                    .clone()
                    .name(format!("retrace-{verb}"))
                    .version(env!("CARGO_PKG_VERSION")),
                None => {
                    report(format!("man {verb:?}: no such verb (see retrace --help)"));
                    return exit::USAGE;
                }
            },
        };
        let mut page = Vec::new();
        if let Err(e) = clap_mangen::Man::new(command).render(&mut page) {
            report(format!("cannot render the manual page: {e}"));
            return exit::INPUT;
        }
        crate::report::write_stdout(&page)
    }
}
