//! `retrace completions SHELL`: shell completions, from the same clap definitions as --help.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::report::write_stdout;
use crate::sink::config::EnvSnapshot;

/// Print shell completions for bash, zsh, fish, powershell or elvish.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Print shell completions on stdout, generated from the same definitions as \
        --help.\n\n\
        bash:  retrace completions bash > ~/.local/share/bash-completion/completions/retrace\n\
        zsh:   retrace completions zsh > ~/.zfunc/_retrace   (with fpath+=~/.zfunc)\n\
        fish:  retrace completions fish > ~/.config/fish/completions/retrace.fish"
)]
pub struct Args {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

impl Args {
    pub fn run(self, _: &EnvSnapshot) -> i32 {
        let mut command = super::Cli::command();
        // Generated into memory first: clap_complete panics on a failed write (`| head`).
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut command, "retrace", &mut script);
        write_stdout(&script)
    }
}
