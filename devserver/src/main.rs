//! `alter-dev serve [--host H] [--port P] [--state FILE]`
//!
//! Prints one JSON line (`base_url`, `admin_token`, `app_id`, `app_api_key`)
//! when ready and serves until SIGINT or SIGTERM, then exits 0. With
//! `--state`, the app, its key and the admin token persist across restarts.

use alter_devserver::ServerOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: alter-dev serve [--host HOST] [--port PORT] [--state FILE]

  --host HOST   address to bind (default 127.0.0.1)
  --port PORT   port to bind; 0 picks a free one (default 0)
  --state FILE  keep the vault in this SQLite file across restarts
                (default: in memory). The file holds the app key and admin
                token in plaintext so a restart prints the same credentials:
                treat it as a secret.

Prints one JSON line when ready:
  {\"base_url\", \"admin_token\", \"app_id\", \"app_api_key\"}";

fn parse(args: &[String]) -> Result<ServerOptions, String> {
    let mut opts = ServerOptions::default();
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("serve") => {}
        Some(other) => return Err(format!("unknown command '{other}'")),
        None => return Err("a command is required".into()),
    }
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag {
            "--host" => opts.host = value("--host")?,
            "--port" => {
                opts.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port must be 0-65535".to_string())?
            }
            "--state" => opts.state_file = Some(PathBuf::from(value("--state")?)),
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    Ok(opts)
}

/// True for a bind address only this machine can reach: a loopback IP
/// (any of 127.0.0.0/8, ::1) or `localhost`.
fn is_loopback_bind(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The warning printed when the vault is bound beyond loopback: its admin
/// API and the test credentials it hands out are then open to the network.
fn exposure_warning(host: &str) -> Option<String> {
    (!is_loopback_bind(host)).then(|| {
        format!(
            "alter-dev: warning: --host {host} is not a loopback address; the local vault \
             (its admin API and the credentials it stores) is reachable from other machines. \
             It is a test server: bind 127.0.0.1 unless you mean this."
        )
    })
}

/// Installs the SIGTERM/SIGINT handlers now and returns the future that
/// resolves on either. Installing before the ready line is printed matters:
/// a signal sent right after the line must stop the server cleanly instead
/// of killing the process with the default action.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("alter-dev: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Before binding, so the warning is seen even if binding fails.
    if let Some(w) = exposure_warning(&opts.host) {
        eprintln!("{w}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("alter-dev: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let signal = shutdown_signal()?;
        alter_devserver::run(
            opts,
            |info| {
                let line = serde_json::to_string(info).expect("info serialises");
                let mut out = std::io::stdout().lock();
                // The line is the readiness signal: flush it at once.
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            },
            signal,
        )
        .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alter-dev: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_flags() {
        let o = parse(&args("serve --host 0.0.0.0 --port=8080 --state /tmp/x.db")).unwrap();
        assert_eq!(o.host, "0.0.0.0");
        assert_eq!(o.port, 8080);
        assert_eq!(o.state_file, Some(PathBuf::from("/tmp/x.db")));
        assert!(parse(&args("serve --port")).is_err());
        assert!(parse(&args("serve --bogus 1")).is_err());
        assert!(parse(&args("run")).is_err());
        assert_eq!(parse(&args("serve")).unwrap().port, 0);
    }

    #[test]
    fn only_non_loopback_hosts_are_warned_about() {
        for quiet in [
            "127.0.0.1",
            "127.3.4.5",
            "localhost",
            "LOCALHOST",
            "::1",
            "[::1]",
        ] {
            assert_eq!(exposure_warning(quiet), None, "{quiet}");
        }
        for loud in ["0.0.0.0", "::", "192.0.2.1", "example.test", ""] {
            let w = exposure_warning(loud).expect(loud);
            assert!(w.contains("not a loopback address"), "{w}");
        }
    }
}
