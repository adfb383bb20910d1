//! A service on loopback and the built binary run against it, as an administrator runs it.

use std::process::{Command, Output};

use opendls_server::{Config, RunningServer};

/// A running service with its own data directory.
pub struct Service {
    /// The running service.
    pub server: RunningServer,
    _dir: tempfile::TempDir,
    /// Its runtime, for driving simulated phones.
    pub runtime: tokio::runtime::Runtime,
}

/// A service on loopback with a fresh data directory.
pub fn service() -> Service {
    service_with(|_| {})
}

/// A service on loopback with its configuration changed by `edit`.
pub fn service_with(edit: impl FnOnce(&mut Config)) -> Service {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::loopback(dir.path().join("data"));
    edit(&mut config);
    let server = runtime.block_on(opendls_server::start(config)).unwrap();
    Service { server, _dir: dir, runtime }
}

impl Service {
    /// Runs `opendls ARGS` against the service.
    pub fn opendls(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `opendls ARGS` against the service, to run as the test wants (a token, standard input).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_opendls"));
        command
            .args(args)
            .env("OPENDLS_ADMIN_URL", format!("http://{}", self.server.admin_addr))
            .env("OPENDLS_DATA", &self.server.data_dir)
            .env_remove("OPENDLS_ADMIN_TOKEN");
        command
    }

    /// `opendls ARGS` with `input` on standard input.
    pub fn opendls_with_input(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
}

/// Runs `opendls ARGS` with no service (commands that need none: dhcp, completions, man).
pub fn offline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_opendls")).args(args).output().unwrap()
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
