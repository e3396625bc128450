//! The command line, exactly as typed: parsing only, no I/O.

use std::net::SocketAddr;

use clap::{Parser, ValueEnum};

/// Nucleus: a production HTTP/1.1 server with a demo app.
///
/// Serves the demo routes (`/`, `/json`, `/echo`, `/slow`, `/blocking`, `/stream`,
/// `/health`) on every `--listen` address.
#[derive(Debug, Parser)]
#[command(name = "nucleus", version, about, long_about = None)]
pub(crate) struct Args {
    /// Address to listen on, e.g. 127.0.0.1:8000 or [::]:8000; repeat for several.
    #[arg(long = "listen", value_name = "ADDR", default_value = "127.0.0.1:8000")]
    pub(crate) listen: Vec<SocketAddr>,

    /// Worker threads [default: the number of CPUs].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) workers: Option<u16>,

    /// Largest request body, in bytes or with a unit: 8MiB, 512KiB, 1GB [default: 1GiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub(crate) max_body_size: Option<u64>,

    /// How connections are spread over workers.
    #[arg(long, value_enum, value_name = "MODEL", default_value_t = Model::PerCore)]
    pub(crate) worker_model: Model,
}

/// `--worker-model` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Model {
    /// One single-threaded runtime per worker, each with its own SO_REUSEPORT socket.
    PerCore,
    /// One tokio work-stealing runtime shared by all workers.
    WorkStealing,
}

/// Parses `1048576`, `1MiB`, `1 MB`, `512k` (binary units for `KiB`/`MiB`/`GiB`, and for the
/// bare `k`/`m`/`g` shorthands as nginx does; decimal for `KB`/`MB`/`GB`).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 1048576 or 1MiB)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, KiB, MiB, GiB, KB, MB or GB)"
            ))
        }
    };
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1 GB"), Ok(1_000_000_000));
        assert!(parse_size("-1").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }

    #[test]
    fn listen_is_repeatable() {
        let args = Args::parse_from(["nucleus", "--listen", "127.0.0.1:1", "--listen", "[::1]:2"]);
        assert_eq!(args.listen.len(), 2);
    }
}
