//! Setting values in human units: sizes (`8KiB`), durations (`10s`), rates (`1KiB/s`), and the
//! `off`/`auto` wrappers. Each parses from a flag or environment string (`FromStr`), from a
//! TOML value (`Deserialize`: a plain number means bytes or seconds), and prints back in a form
//! that parses to the same value (`Display`, `Serialize`), which `--print-config` relies on.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer};
use serde::{Serialize, Serializer};

/// A byte count: `1048576`, `8KiB`, `1 MB`, `512k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Size(pub(crate) u64);

/// A length of time: `10s`, `500ms`, `1.5s`, `2m`, `1h`; a plain number is seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Secs(pub(crate) Duration);

/// Bytes per second: `1KiB/s`, `1KiB` or `1024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate(pub(crate) u64);

/// A setting that `off`, `none` or `false` disables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OrOff<T>(pub(crate) Option<T>);

/// A setting whose default, `auto`, the server works out at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OrAuto<T>(pub(crate) Option<T>);

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

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
        "k" | "kib" => KIB,
        "m" | "mib" => MIB,
        "g" | "gib" => GIB,
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

/// Parses `10s`, `500ms`, `1.5s`, `250us`, `2m`, `1h`, or a plain (decimal) number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a duration (try 10s, 500ms or 2m)");
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(bad());
    }
    let nanos_per_unit: u128 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "" | "s" | "sec" | "secs" => 1_000_000_000,
        "m" | "min" | "mins" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` (use ns, us, ms, s, m or h)"
            ))
        }
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if number == "." || fraction.contains('.') || fraction.len() > 9 {
        return Err(bad());
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let fraction_nanos = if fraction.is_empty() {
        0
    } else {
        let digits: u128 = fraction.parse().map_err(|_| bad())?;
        digits * nanos_per_unit / 10u128.pow(fraction.len() as u32)
    };
    let nanos = whole
        .checked_mul(nanos_per_unit)
        .and_then(|n| n.checked_add(fraction_nanos))
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| format!("`{text}` is too long"))?;
    Ok(Duration::from_nanos(nanos))
}

impl fmt::Display for Size {
    /// The largest binary unit that divides the size exactly, so it parses back unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
            if n != 0 && n.is_multiple_of(unit) {
                return write!(f, "{}{name}", n / unit);
            }
        }
        write!(f, "{n}")
    }
}

impl fmt::Display for Secs {
    /// The largest unit that represents the duration exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
        if nanos == 0 {
            return match secs {
                0 => write!(f, "0s"),
                s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
                s if s % 60 == 0 => write!(f, "{}m", s / 60),
                s => write!(f, "{s}s"),
            };
        }
        let total = d.as_nanos();
        if total.is_multiple_of(1_000_000) {
            write!(f, "{}ms", total / 1_000_000)
        } else if total.is_multiple_of(1_000) {
            write!(f, "{}us", total / 1_000)
        } else {
            write!(f, "{total}ns")
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", Size(self.0))
    }
}

impl<T: fmt::Display> fmt::Display for OrOff<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("off"),
        }
    }
}

impl<T: fmt::Display> fmt::Display for OrAuto<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("auto"),
        }
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(text: &str) -> Result<Size, String> {
        parse_size(text).map(Size)
    }
}

impl FromStr for Secs {
    type Err = String;
    fn from_str(text: &str) -> Result<Secs, String> {
        parse_duration(text).map(Secs)
    }
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(text: &str) -> Result<Rate, String> {
        let text = text.trim();
        let size = text.strip_suffix("/s").unwrap_or(text);
        parse_size(size)
            .map(Rate)
            .map_err(|_| format!("`{text}` is not a rate (try 1KiB/s or 1024)"))
    }
}

impl<T: FromStr> FromStr for OrOff<T>
where
    T::Err: fmt::Display,
{
    type Err = String;
    fn from_str(text: &str) -> Result<OrOff<T>, String> {
        if is_off(text) {
            return Ok(OrOff(None));
        }
        text.trim()
            .parse()
            .map(|v| OrOff(Some(v)))
            .map_err(|err| format!("{err}; `off` disables it"))
    }
}

impl<T: FromStr> FromStr for OrAuto<T>
where
    T::Err: fmt::Display,
{
    type Err = String;
    fn from_str(text: &str) -> Result<OrAuto<T>, String> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(OrAuto(None));
        }
        text.trim()
            .parse()
            .map(|v| OrAuto(Some(v)))
            .map_err(|err| format!("`{text}`: {err} (expected a number or `auto`)"))
    }
}

fn is_off(text: &str) -> bool {
    ["off", "none", "false"]
        .iter()
        .any(|word| text.trim().eq_ignore_ascii_case(word))
}

// TOML forms. Every impl goes through `toml::Value`, so that a number, a string and a boolean
// can all be told apart whatever the deserializer.

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        Ok(match toml::Value::deserialize(d)? {
            toml::Value::Integer(n) => {
                Size(u64::try_from(n).map_err(|_| de::Error::custom("a size cannot be negative"))?)
            }
            toml::Value::String(text) => text.parse().map_err(de::Error::custom)?,
            other => return Err(expected(&other, "a size such as 8KiB or 8192")),
        })
    }
}

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secs, D::Error> {
        Ok(match toml::Value::deserialize(d)? {
            toml::Value::Integer(n) => {
                Secs(Duration::from_secs(u64::try_from(n).map_err(|_| {
                    de::Error::custom("a duration cannot be negative")
                })?))
            }
            toml::Value::Float(x) => Secs(
                Duration::try_from_secs_f64(x)
                    .map_err(|_| de::Error::custom(format!("{x} is not a duration")))?,
            ),
            toml::Value::String(text) => text.parse().map_err(de::Error::custom)?,
            other => return Err(expected(&other, "a duration such as 10s, 500ms or 10")),
        })
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        Ok(match toml::Value::deserialize(d)? {
            toml::Value::Integer(n) => {
                Rate(u64::try_from(n).map_err(|_| de::Error::custom("a rate cannot be negative"))?)
            }
            toml::Value::String(text) => text.parse().map_err(de::Error::custom)?,
            other => return Err(expected(&other, "a rate such as 1KiB/s or 1024")),
        })
    }
}

impl<'de, T: de::DeserializeOwned> Deserialize<'de> for OrOff<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OrOff<T>, D::Error> {
        let value = toml::Value::deserialize(d)?;
        let off = match &value {
            toml::Value::Boolean(false) => true,
            toml::Value::String(text) => is_off(text),
            _ => false,
        };
        if off {
            return Ok(OrOff(None));
        }
        T::deserialize(value)
            .map(|v| OrOff(Some(v)))
            .map_err(|err| de::Error::custom(format!("{}; `off` disables it", err.message())))
    }
}

impl<'de, T: de::DeserializeOwned> Deserialize<'de> for OrAuto<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OrAuto<T>, D::Error> {
        let value = toml::Value::deserialize(d)?;
        if matches!(&value, toml::Value::String(text) if text.trim().eq_ignore_ascii_case("auto")) {
            return Ok(OrAuto(None));
        }
        T::deserialize(value)
            .map(|v| OrAuto(Some(v)))
            .map_err(|err| de::Error::custom(format!("{} (or `auto`)", err.message())))
    }
}

fn expected<E: de::Error>(found: &toml::Value, what: &str) -> E {
    E::custom(format!(
        "expected {what}, found {} `{found}`",
        found.type_str()
    ))
}

/// Sizes print as a string with a unit (`"8KiB"`), or as a plain integer when no unit divides
/// them; durations and rates always as strings.
impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 != 0 && self.0.is_multiple_of(KIB) {
            s.collect_str(self)
        } else {
            s.serialize_u64(self.0)
        }
    }
}

impl Serialize for Secs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<T: Serialize> Serialize for OrOff<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(value) => value.serialize(s),
            None => s.serialize_str("off"),
        }
    }
}

impl<T: Serialize> Serialize for OrAuto<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(value) => value.serialize(s),
            None => s.serialize_str("auto"),
        }
    }
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
    fn durations_with_and_without_units() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        for bad in [
            "",
            ".",
            "1.2.3s",
            "-1s",
            "10 parsecs",
            "ten seconds",
            "1e3s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("99999999999999h").is_err());
    }

    #[test]
    fn values_print_in_a_form_that_parses_back() {
        for text in ["0", "1000", "8KiB", "64MiB", "1GiB", "1536"] {
            let size: Size = text.parse().unwrap();
            assert_eq!(size.to_string().parse::<Size>(), Ok(size));
        }
        assert_eq!(Size(8192).to_string(), "8KiB");
        for text in [
            "0s", "10s", "1m", "1h", "90s", "500ms", "1.5s", "250us", "7ns",
        ] {
            let secs: Secs = text.parse().unwrap();
            assert_eq!(secs.to_string().parse::<Secs>(), Ok(secs), "{text}");
        }
        assert_eq!(Secs(Duration::from_millis(1500)).to_string(), "1500ms");
        assert_eq!(Rate(1024).to_string(), "1KiB/s");
        assert_eq!("1KiB/s".parse::<Rate>(), Ok(Rate(1024)));
    }

    #[test]
    fn off_and_auto() {
        assert_eq!("off".parse::<OrOff<Secs>>(), Ok(OrOff(None)));
        assert_eq!("None".parse::<OrOff<Secs>>(), Ok(OrOff(None)));
        assert_eq!(
            "5s".parse::<OrOff<Secs>>(),
            Ok(OrOff(Some(Secs(Duration::from_secs(5)))))
        );
        assert!("soon".parse::<OrOff<Secs>>().is_err());
        assert_eq!("auto".parse::<OrAuto<usize>>(), Ok(OrAuto(None)));
        assert_eq!("4".parse::<OrAuto<usize>>(), Ok(OrAuto(Some(4))));
        assert!("many".parse::<OrAuto<usize>>().is_err());
    }
}
