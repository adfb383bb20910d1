//! `opendls user …`, `opendls token …` and `opendls audit`: accounts and their roles, personal
//! API tokens, and the audit log of changes, through the admin API (accounts and the audit log
//! need an admin: the data directory's admin token, or an admin's personal token).

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use opendls_api::{
    AuditEntryView, CreatedToken, NewUser, PasswordChange, RoleChange, TokenRequest, TokenView, UserCreated,
    UserView,
};
use opendls_engine::{Role, utc_text};
use reqwest::Method;

use crate::admin::{encode, print_table};
use crate::client::Client;
use crate::secret_input::read_secret;
use crate::{Connection, Refused};

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Every account with its role.
    List,
    /// Make an account. Without --password-stdin the service makes a one-time password, shown
    /// once, which the user must change at the first login.
    Add {
        /// The login name (letters, digits, '.', '_', '-', '@').
        name: String,
        /// admin (everything), operator (devices, configuration, files, jobs) or viewer (reads).
        #[arg(long)]
        role: String,
        /// Read the password from standard input (a prompt without echo on a terminal).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a password: your own (asks for the current one), or, as an admin, anyone's (a
    /// one-time password unless --password-stdin).
    Passwd {
        /// The account.
        name: String,
        /// Read the new password from standard input (a prompt without echo on a terminal).
        #[arg(long)]
        password_stdin: bool,
        /// Changing your own password: read the current one first, then the new one.
        #[arg(long)]
        own: bool,
    },
    /// Change an account's role.
    Role {
        /// The account.
        name: String,
        /// admin, operator or viewer.
        role: String,
    },
    /// Remove an account and its API tokens (the last admin stays).
    Remove {
        /// The account.
        name: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Your tokens (--all: everyone's, for admins).
    List {
        /// Every account's tokens.
        #[arg(long)]
        all: bool,
    },
    /// Make a personal API token; it is printed once (use it as --token or OPENDLS_ADMIN_TOKEN).
    Create {
        /// What it is for (`backup script`).
        #[arg(long)]
        label: String,
        /// The account it acts for (admins; with the data directory's admin token, required).
        #[arg(long)]
        user: Option<String>,
        /// Days until it stops working; never by default.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke a token by its id (`opendls token list`).
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// `opendls audit` options.
#[derive(Args)]
pub(crate) struct AuditArgs {
    /// Only this actor's changes (an account, or break-glass).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only changes whose action or target contains this text (`/api/config`, a MAC).
    #[arg(long)]
    pub text: Option<String>,
    /// Only changes since a time (2026-12-01T08:00:00Z) or an age (90s, 30m, 24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// How many, newest first (at most 10000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print CSV (every field, the documents as JSON) for a spreadsheet or an archive.
    #[arg(long)]
    pub csv: bool,
}

fn role(text: &str) -> Result<Role> {
    Ok(text.parse::<Role>().map_err(|e| Refused(e.to_string()))?)
}

/// Runs one `user` command.
pub(crate) fn run_user(connection: Connection, command: UserCommand) -> Result<ExitCode> {
    with_client(connection, |client, json| async move {
        match command {
            UserCommand::List => {
                let users: Vec<UserView> = client.get("/api/users").await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&users)?);
                } else {
                    let rows = users
                        .iter()
                        .map(|u| {
                            let must = if u.must_change_password { "must change" } else { "" };
                            vec![u.name.clone(), u.role.to_string(), utc_text(u.password_set_at), must.into()]
                        })
                        .collect();
                    print_table(&["NAME", "ROLE", "PASSWORD SET", ""], rows);
                }
            }
            UserCommand::Add { name, role: wanted, password_stdin } => {
                let role = role(&wanted)?;
                let password = password_stdin.then(|| read_secret("password")).transpose()?;
                let made: Option<UserCreated> =
                    client.send(Method::POST, "/api/users", &NewUser { name, role, password }).await?;
                report_password(made, json, "made")?;
            }
            UserCommand::Passwd { name, password_stdin, own } => {
                let current = own.then(|| read_secret("current password")).transpose()?;
                if own && !password_stdin {
                    bail!("give the new password with --password-stdin");
                }
                let password = password_stdin.then(|| read_secret("new password")).transpose()?;
                let path = format!("/api/users/{}/password", encode(&name));
                let set: Option<UserCreated> =
                    client.send(Method::PUT, &path, &PasswordChange { password, current }).await?;
                report_password(set, json, "password set for")?;
            }
            UserCommand::Role { name, role: wanted } => {
                let change = RoleChange { role: role(&wanted)? };
                let path = format!("/api/users/{}/role", encode(&name));
                let user: Option<UserView> = client.send(Method::PUT, &path, &change).await?;
                if let Some(user) = user {
                    eprintln!("{} is now {}", user.name, user.role);
                }
            }
            UserCommand::Remove { name } => {
                let path = format!("/api/users/{}", encode(&name));
                let removed: Option<UserView> = client.send(Method::DELETE, &path, &()).await?;
                if let Some(user) = removed {
                    eprintln!("removed {} ({}) and its API tokens", user.name, user.role);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Says what happened to an account, and prints a one-time password the service made.
fn report_password(answer: Option<UserCreated>, json: bool, what: &str) -> Result<()> {
    let Some(answer) = answer else { return Ok(()) };
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    eprintln!("{what} {} ({})", answer.user.name, answer.user.role);
    if let Some(password) = answer.one_time_password {
        eprintln!("one-time password (shown once; to be changed at the first login):");
        println!("{password}");
    }
    Ok(())
}

/// Runs one `token` command.
pub(crate) fn run_token(connection: Connection, command: TokenCommand) -> Result<ExitCode> {
    with_client(connection, |client, json| async move {
        match command {
            TokenCommand::List { all } => {
                let path = if all { "/api/tokens?all=true" } else { "/api/tokens" };
                let tokens: Vec<TokenView> = client.get(path).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&tokens)?);
                } else {
                    let when = |at: Option<i64>, none: &str| at.map_or_else(|| none.to_owned(), utc_text);
                    let rows = tokens
                        .iter()
                        .map(|t| {
                            vec![
                                t.id.clone(),
                                t.user.clone(),
                                t.label.clone(),
                                utc_text(t.created_at),
                                when(t.expires_at, "never"),
                                when(t.last_used_at, "-"),
                            ]
                        })
                        .collect();
                    print_table(&["ID", "USER", "LABEL", "CREATED", "EXPIRES", "LAST USED"], rows);
                }
            }
            TokenCommand::Create { label, user, expires_in_days } => {
                let request = TokenRequest { label, user, expires_in_days };
                let created: Option<CreatedToken> =
                    client.send(Method::POST, "/api/tokens", &request).await?;
                if let Some(created) = created {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&created)?);
                    } else {
                        eprintln!(
                            "token {} for {} (shown once; revoke with opendls token revoke {}):",
                            created.view.id, created.view.user, created.view.id
                        );
                        println!("{}", created.token);
                    }
                }
            }
            TokenCommand::Revoke { id } => {
                let path = format!("/api/tokens/{}", encode(&id));
                let revoked: Option<TokenView> = client.send(Method::DELETE, &path, &()).await?;
                if let Some(token) = revoked {
                    eprintln!("revoked token {} ({}, {})", token.id, token.user, token.label);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `opendls audit`.
pub(crate) fn run_audit(connection: Connection, args: AuditArgs) -> Result<ExitCode> {
    with_client(connection, |client, json| async move {
        let mut path = format!("/api/audit?limit={}", args.limit);
        for (name, value) in [("actor", &args.actor), ("text", &args.text)] {
            if let Some(value) = value {
                path.push_str(&format!("&{name}={}", encode(value)));
            }
        }
        if let Some(since) = &args.since {
            path.push_str(&format!(
                "&since={}",
                crate::fleet::parse_since(since, opendls_server::phone::unix_now(), "--since")?
            ));
        }
        if args.csv {
            print!("{}", client.get_text(&format!("{path}&format=csv")).await?);
            return Ok(ExitCode::SUCCESS);
        }
        let entries: Vec<AuditEntryView> = client.get(&path).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&entries)?);
            return Ok(ExitCode::SUCCESS);
        }
        let rows = entries
            .iter()
            .map(|e| {
                vec![
                    utc_text(e.at),
                    e.actor.clone(),
                    e.source.clone(),
                    e.status.to_string(),
                    e.action.clone(),
                    e.target.clone(),
                ]
            })
            .collect();
        print_table(&["AT", "ACTOR", "FROM", "STATUS", "ACTION", "TARGET"], rows);
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `work` with a client of the service, on a runtime of its own.
fn with_client<F, Fut>(connection: Connection, work: F) -> Result<ExitCode>
where
    F: FnOnce(Client, bool) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let client = Client::new(&connection)?;
        work(client, connection.json).await
    })
}
