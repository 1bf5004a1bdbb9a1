//! One example (or a few) for every command, shown after its help (`caducee user add
//! --help`), in its manual page, and tested: a command without one fails the CLI's test.
//! Kept here rather than beside each definition so that they read as one page, like a
//! manual's EXAMPLES section.

/// (command path after `caducee`, example lines). The `client` commands' are the client's
/// own ([`caducee_client::examples`]), shown with `caducee client` as their program.
const EXAMPLES: &[(&str, &str)] = &[
    ("serve", "caducee --data-dir /var/lib/caducee serve\nCADUCEE_LOG=debug caducee serve"),
    (
        "setup",
        "caducee --data-dir /var/lib/caducee setup --domain caducee.example.org --hostname relay.caducee.example.org --appliance",
    ),
    (
        "user add",
        "caducee user add --address anne.martin@caducee.example.org --first-name Anne --last-name Martin \\\n    \
         --contact-email anne.martin@example.org --city Lille --specialty Cardiologie",
    ),
    ("user list", "caducee user list\ncaducee user list --json | jq '.[] | select(.blocked)'"),
    ("user unblock", "caducee user unblock --address labo@caducee.example.org"),
    ("user enable", "caducee user enable --address anne.martin@caducee.example.org"),
    ("user suspend", "caducee user suspend --address anne.martin@caducee.example.org"),
    ("user close", "caducee user close --address anne.martin@caducee.example.org"),
    ("user reopen", "caducee user reopen --address anne.martin@caducee.example.org"),
    ("user hold", "caducee user hold --address anne.martin@caducee.example.org"),
    ("user release", "caducee user release --address anne.martin@caducee.example.org"),
    ("user quota", "caducee user quota --address labo@caducee.example.org --mb 200"),
    ("user reset-password", "caducee user reset-password --address anne.martin@caducee.example.org"),
    ("user edit", "caducee user edit --address anne.martin@caducee.example.org --contact-email anne@example.org"),
    ("status", "caducee status\ncaducee status --json | jq .stored_messages"),
    ("fsck", "caducee fsck && echo the store is sound"),
    ("monitor run", "caducee monitor run\ncaducee monitor run --as-of 2027-01-31 --json"),
    ("terms publish", "caducee terms publish --file conditions-2027.txt"),
    (
        "trust import",
        "caducee trust import listeblanchemssante.xml\ncaducee trust import https://trust.example/listeblanchemssante.xml",
    ),
    ("trust list", "caducee trust list"),
    ("trust show", "caducee trust show hopital.example.org"),
    ("queue list", "caducee queue list"),
    ("queue show", "caducee queue show 12"),
    ("queue retry", "caducee queue retry 12\ncaducee queue retry --all"),
    ("queue hold", "caducee queue hold 12"),
    ("queue release", "caducee queue release --all"),
    ("queue delete", "caducee queue delete 12"),
    ("requests", "caducee requests\ncaducee requests --close 3"),
    ("alerts", "caducee alerts --open\ncaducee alerts --ack 7"),
    (
        "directory set",
        "caducee directory set --address anne.martin@caducee.example.org --city Roubaix --red-list on",
    ),
    (
        "directory import",
        "caducee directory import --csv annuaire.csv --credentials-out /root/new-accounts.csv\n\
         caducee directory import --csv export-excel.csv --charset windows-1252 --credentials-out /root/new.csv",
    ),
    (
        "directory export",
        "caducee directory export --format csv --bom --out annuaire.csv\ncaducee directory export --format ldif",
    ),
    ("keys show", "caducee keys show --address anne.martin@caducee.example.org"),
    ("keys renew", "caducee keys renew --address anne.martin@caducee.example.org"),
    ("keys revoke", "caducee keys revoke --address anne.martin@caducee.example.org --reason compromised"),
    ("trail", "caducee trail --message-id 1234"),
    ("audit verify", "caducee audit verify || echo the audit trail was altered"),
    ("audit export", "caducee audit export --from 2026-01-01 --to 2026-12-31 > audit-2026.jsonl"),
    ("announce", "caducee announce --subject \"Maintenance le 12 janvier\" --file annonce.txt"),
    (
        "backup",
        "caducee backup\ncaducee backup --to /mnt/usb/caducee.cbk --key-file /root/backup.key",
    ),
    ("backup key", "caducee backup key --export /root/caducee-backup.key"),
    ("backup verify", "caducee backup verify /mnt/backup/caducee-20261130T020000Z.cbk"),
    ("console", "caducee console"),
    ("drill", "caducee drill\ncaducee drill --from /mnt/backup/caducee-20261130T020000Z.cbk --json"),
    (
        "restore",
        "caducee --data-dir /var/lib/caducee restore --from /mnt/backup/caducee-20261130T020000Z.cbk \\\n    \
         --key-file /root/caducee-backup.key",
    ),
    (
        "issuer",
        "caducee issuer --socket /run/caducee-issuer/issuer.sock --bundles /var/lib/caducee-issuer/bundles",
    ),
    ("dns", "caducee dns --ipv4 192.0.2.10 --ipv6 2001:db8::10 > caducee.zone"),
    (
        "dns check",
        "caducee dns check --ipv4 192.0.2.10 --ipv6 2001:db8::10\ncaducee dns check --resolver 192.0.2.53 --json",
    ),
    ("config show", "caducee config show\ncaducee config show --defaults > caducee.toml.example"),
    ("config check", "caducee --data-dir /var/lib/caducee config check && systemctl restart caducee"),
    ("generate config-reference", "caducee generate config-reference > docs/operations/configuration.md"),
    ("generate man", "caducee generate man --out /usr/share/man/man1"),
    (
        "generate completions",
        "caducee generate completions --shell bash > /usr/share/bash-completion/completions/caducee",
    ),
    ("pair status", "caducee pair status\ncaducee pair status --json"),
    ("pair publish", "caducee pair publish --to /run/caducee-pair/cluster.json --every-seconds 10"),
];

/// The command line's definition with every example attached after its command's help.
pub fn attach(command: clap::Command) -> clap::Command {
    attach_under(command, "")
}

fn attach_under(mut command: clap::Command, path: &str) -> clap::Command {
    let here = if path.is_empty() { String::new() } else { path.to_owned() };
    if let Some(lines) = examples_of(&here) {
        command = command.after_help(caducee_client::examples::after_help(&lines));
    }
    let names: Vec<String> = command.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for name in names {
        let sub_path = if here.is_empty() { name.clone() } else { format!("{here} {name}") };
        command = command.mut_subcommand(&name, |sub| attach_under(sub, &sub_path));
    }
    command
}

/// The example lines of the command at `path` (after `caducee`).
fn examples_of(path: &str) -> Option<String> {
    match path.strip_prefix("client ") {
        Some(client_command) => caducee_client::examples::of(client_command, CLIENT_PROGRAM),
        None => EXAMPLES.iter().find(|(p, _)| *p == path).map(|(_, lines)| (*lines).to_owned()),
    }
}

/// How the appliance's binary runs the client.
const CLIENT_PROGRAM: &str = "caducee client";

#[cfg(test)]
mod tests {
    use super::*;

    /// An example's command lines as the shell would split them: continuation lines joined,
    /// what follows a pipe, `&&`, `||` or a redirection left out, environment settings and
    /// double quotes removed.
    fn command_lines(lines: &str) -> Vec<Vec<String>> {
        let joined = lines.replace("\\\n", " ");
        let mut commands = Vec::new();
        for line in joined.lines() {
            let mut words = caducee_client::examples::command_words(line);
            let start = words.iter().position(|w| w == "caducee").expect("an example runs caducee");
            commands.push(words.split_off(start));
        }
        commands
    }

    #[test]
    fn every_example_parses_as_the_command_it_illustrates() {
        let command = attach(<super::super::Cli as clap::CommandFactory>::command());
        let client = caducee_client::examples::all(CLIENT_PROGRAM)
            .into_iter()
            .map(|(command, lines)| (format!("client {command}"), lines));
        let every: Vec<(String, String)> =
            EXAMPLES.iter().map(|(path, lines)| ((*path).to_owned(), (*lines).to_owned())).chain(client).collect();
        for (path, lines) in &every {
            for words in command_lines(lines) {
                let matches = command.clone().try_get_matches_from(&words);
                let matches = matches.unwrap_or_else(|e| panic!("`caducee {path}` example {words:?}: {e}"));
                let mut names = Vec::new();
                let mut at = &matches;
                while let Some((name, sub)) = at.subcommand() {
                    names.push(name);
                    at = sub;
                }
                assert_eq!(names.join(" "), *path, "{words:?}");
                assert!(examples_of(path).is_some(), "{path}");
            }
        }
    }
}
