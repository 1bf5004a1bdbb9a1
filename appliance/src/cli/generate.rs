//! `caducee generate man|completions`: the manual pages and shell completions, made from
//! the command line's own definition, so they never say what the binary does not do. The
//! image build writes them into the image (`man caducee-user-add`, Tab in bash).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use clap_complete::Shell;

#[derive(Debug, Subcommand)]
pub(super) enum GenerateCommand {
    /// Write a manual page (section 1) for `caducee` and for each of its commands into a
    /// folder: caducee.1, caducee-user.1, caducee-user-add.1…
    Man {
        /// The folder to write the pages into (made if absent).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the configuration reference (Markdown): every setting, its default and what it
    /// does, from the relay's own definitions.
    ConfigReference,
    /// Print the completion script of a shell on standard output.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(long, value_enum)]
        shell: Shell,
    },
}

pub(super) fn run(command: GenerateCommand) -> anyhow::Result<ExitCode> {
    match command {
        GenerateCommand::Man { out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let before = pages(&out)?;
            let command = super::command().version(env!("CARGO_PKG_VERSION"));
            clap_mangen::generate_to(command, &out).with_context(|| format!("writing into {}", out.display()))?;
            eprintln!("{} manual pages written to {}", pages(&out)?.saturating_sub(before), out.display());
        }
        GenerateCommand::ConfigReference => print!("{}", crate::config::reference::markdown()),
        GenerateCommand::Completions { shell } => {
            clap_complete::generate(shell, &mut super::command(), "caducee", &mut std::io::stdout());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How many `caducee*.1` pages `folder` holds.
fn pages(folder: &Path) -> anyhow::Result<usize> {
    let entries = std::fs::read_dir(folder).with_context(|| format!("reading {}", folder.display()))?;
    Ok(entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("caducee") && n.ends_with(".1")))
        .count())
}
