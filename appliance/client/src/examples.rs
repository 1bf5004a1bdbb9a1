//! One example (or a few) for every client command, shown after its help and in the manual
//! pages, for both ways of running the client: `caducee-client …` on a practice's machine
//! and `caducee client …` on the appliance. `PROGRAM` in a line stands for either.

/// (command after the program, example lines).
const EXAMPLES: &[(&str, &str)] = &[
    (
        "install",
        "PROGRAM install --bundle caducee-bundle-anne.txt --code 4Q7T-… --profile ~/caducee \\\n    \
         --password-file ~/caducee-password --charset windows-1252",
    ),
    ("profile", "PROGRAM profile --profile ~/caducee --charset iso-8859-1"),
    (
        "send",
        "PROGRAM send --profile ~/caducee --to labo@caducee.example.org --patient-last-name DUPONT \\\n    \
         --patient-first-name Marie --patient-birth-date 1970-03-15 --file compte-rendu.hpr",
    ),
    (
        "fetch",
        "PROGRAM fetch --profile ~/caducee --out ~/caducee/inbox\nPROGRAM fetch --profile ~/caducee --out inbox --json",
    ),
    ("lint-hprim", "PROGRAM lint-hprim compte-rendu.hpr"),
    ("keygen", "PROGRAM keygen --profile ~/caducee --name \"Anne Martin\""),
];

/// Every client command (its name after the program) with its example lines, the program
/// written as `program`.
pub fn all(program: &str) -> Vec<(&'static str, String)> {
    EXAMPLES.iter().map(|(command, lines)| (*command, lines.replace("PROGRAM", program))).collect()
}

/// The example lines of one client command, the program written as `program`.
pub fn of(command: &str, program: &str) -> Option<String> {
    EXAMPLES.iter().find(|(name, _)| *name == command).map(|(_, lines)| lines.replace("PROGRAM", program))
}

/// The help text that shows example lines after a command's own help.
pub fn after_help(lines: &str) -> String {
    let title = if lines.lines().filter(|line| !line.starts_with(' ')).count() > 1 { "Examples:" } else { "Example:" };
    let shown: Vec<String> = lines.lines().map(|line| format!("  {line}")).collect();
    format!("{title}\n{}", shown.join("\n"))
}

/// The standalone client's command line with each command's example attached.
pub fn attach(mut command: clap::Command, program: &str) -> clap::Command {
    let names: Vec<String> = command.get_subcommands().map(|sub| sub.get_name().to_owned()).collect();
    for name in names {
        if let Some(lines) = of(&name, program) {
            command = command.mut_subcommand(&name, |sub| sub.after_help(after_help(&lines)));
        }
    }
    command
}

/// The words of one example line as the shell would pass them to the program: what follows
/// a pipe, `&&`, `||` or a redirection left out, double quotes holding spaces together.
/// For the tests that parse every example (here and in `caducee`'s).
pub fn command_words(line: &str) -> Vec<String> {
    let cut = [" | ", " && ", " || ", " > "].iter().filter_map(|sep| line.find(sep)).min().unwrap_or(line.len());
    let (mut words, mut word, mut quoted) = (Vec::new(), String::new(), false);
    for c in line[..cut].chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use clap::Args as _;

    use super::*;

    #[test]
    fn every_command_has_an_example_that_parses_as_that_command() {
        let command = crate::ClientArgs::augment_args(clap::Command::new("caducee-client"));
        for sub in command.get_subcommands() {
            assert!(of(sub.get_name(), "caducee-client").is_some(), "`{}` has no example", sub.get_name());
        }
        for (name, lines) in all("caducee-client") {
            for line in lines.replace("\\\n", " ").lines() {
                let words = command_words(line);
                let matches = command
                    .clone()
                    .try_get_matches_from(&words)
                    .unwrap_or_else(|error| panic!("{name}: {words:?}: {error}"));
                assert_eq!(matches.subcommand_name(), Some(name), "{words:?}");
            }
        }
    }
}
