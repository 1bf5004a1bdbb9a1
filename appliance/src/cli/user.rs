//! `caducee user …`: accounts.

use std::path::Path;
use std::process::ExitCode;

use caducee_admin_protocol::{StateAction, UserAdd, UserEdit, UserList, UserQuota, UserResetPassword, UserState};
use clap::Subcommand;

use super::directory::DirectoryArgs;
use super::keys::print_edition;
use super::print::{print_json, Shown};
use super::status::describe_state;
use super::transport::call;
use super::{AddressArg, JsonFlag};

#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
    /// Create an account and its mailbox; prints the generated password once.
    Add {
        /// The user's secure address (name@domain).
        #[arg(long)]
        address: String,
        /// The user's first name (as shown in the directory).
        #[arg(long)]
        first_name: String,
        /// The user's last name.
        #[arg(long)]
        last_name: String,
        /// Where notices to the user go (never health data).
        #[arg(long)]
        contact_email: String,
        /// Mailbox quota in MB (default 50).
        #[arg(long)]
        quota_mb: Option<u64>,
        #[command(flatten)]
        directory: Box<DirectoryArgs>,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// List accounts with their mailbox usage.
    List(JsonFlag),
    /// Lift a mass-mailing block.
    Unblock(AddressArg),
    /// Turn reception back on (after inactivity or a suspension).
    Enable(AddressArg),
    /// Suspend reception: senders are refused 550 5.2.1 until `enable`.
    Suspend(AddressArg),
    /// Close the account: no login, no reception; removed after the retention period.
    Close(AddressArg),
    /// Reopen a closed account.
    Reopen(AddressArg),
    /// Put a closed account under legal hold: retention keeps it.
    Hold(AddressArg),
    /// Lift a legal hold.
    Release(AddressArg),
    /// Change the mailbox quota.
    Quota {
        /// The user's secure address (name@domain).
        #[arg(long)]
        address: String,
        /// The new quota, in MB (the default is 50).
        #[arg(long)]
        mb: u64,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
    /// Give the account a new random password (printed once; the old one stops working).
    ResetPassword(AddressArg),
    /// Change an account's names or contact e-mail.
    Edit {
        /// The user's secure address (name@domain).
        #[arg(long)]
        address: String,
        /// The user's first name (as shown in the directory).
        #[arg(long)]
        first_name: Option<String>,
        /// The user's last name.
        #[arg(long)]
        last_name: Option<String>,
        /// The e-mail address outside the relay where the user hears of notices (inactivity, quota, blocking).
        #[arg(long)]
        contact_email: Option<String>,
        /// Print JSON instead of text (its shape: docs/operations/admin-protocol.md).
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(data_dir: &Path, command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add { address, first_name, last_name, contact_email, quota_mb, directory, json } => {
            let directory = directory.into_fields();
            let add = UserAdd { address, first_name, last_name, contact_email, quota_mb, directory };
            user_add(data_dir, add, json)
        }
        UserCommand::List(flag) => user_list(data_dir, flag.json),
        UserCommand::Unblock(arg) => user_state(data_dir, arg, StateAction::Unblock),
        UserCommand::Enable(arg) => user_state(data_dir, arg, StateAction::Enable),
        UserCommand::Suspend(arg) => user_state(data_dir, arg, StateAction::Suspend),
        UserCommand::Close(arg) => user_state(data_dir, arg, StateAction::Close),
        UserCommand::Reopen(arg) => user_state(data_dir, arg, StateAction::Reopen),
        UserCommand::Hold(arg) => user_state(data_dir, arg, StateAction::Hold),
        UserCommand::Release(arg) => user_state(data_dir, arg, StateAction::Release),
        UserCommand::Quota { address, mb, json } => {
            let user = call(data_dir, UserQuota { address, quota_mb: mb })?;
            if json {
                print_json(&user)?;
            } else {
                println!("{}: quota {} MB", user.address, mb);
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::ResetPassword(arg) => {
            let reset = call(data_dir, UserResetPassword { address: arg.address })?;
            if arg.json {
                print_json(&reset)?;
            } else {
                println!("new password for {}: {}", reset.address, reset.password);
                println!("(shown once: give it to the user through a separate channel)");
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Edit { address, first_name, last_name, contact_email, json } => {
            let user = call(data_dir, UserEdit { address, first_name, last_name, contact_email })?;
            if json {
                print_json(&user)?;
            } else {
                println!(
                    "{}: {} {}, contact {}",
                    user.address,
                    Shown(&user.first_name),
                    Shown(&user.last_name),
                    Shown(&user.contact_email)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn user_add(data_dir: &Path, add: UserAdd, json: bool) -> anyhow::Result<ExitCode> {
    let created = call(data_dir, add)?;
    if json {
        print_json(&created)?;
    } else {
        println!("created {}", created.address);
        println!("password: {}", created.password);
        print_edition(&created.keys);
        println!("(password and code are shown once: give them to the user through separate channels)");
    }
    Ok(ExitCode::SUCCESS)
}

fn user_list(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let users = call(data_dir, UserList {})?;
    if json {
        print_json(&users)?;
    } else {
        for user in users {
            println!(
                "{:<40} {} / {} bytes  {} messages",
                user.address, user.used_bytes, user.quota_bytes, user.messages
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn user_state(data_dir: &Path, arg: AddressArg, action: StateAction) -> anyhow::Result<ExitCode> {
    let user = call(data_dir, UserState { address: arg.address, action })?;
    if arg.json {
        print_json(&user)?;
    } else {
        println!("{}: {}", user.address, describe_state(&user.state));
    }
    Ok(ExitCode::SUCCESS)
}
