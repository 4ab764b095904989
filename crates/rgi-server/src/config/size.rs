//! Sizes in the configuration file: a number of bytes (`16777216`) or a
//! string with a unit (`"16MiB"`, `"512M"`, `"1GiB"`, `"500MB"`).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A size in bytes, as written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Size(pub(super) u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SizeVisitor)
    }
}

struct SizeVisitor;

const FORMS: &str = r#"a number of bytes, or a string with a unit ("512KiB", "16MiB", "1GiB"; K, M, G are the same; KB, MB, GB are powers of 1000)"#;

impl Visitor<'_> for SizeVisitor {
    type Value = Size;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FORMS)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
        Ok(Size(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
        u64::try_from(v).map(Size).map_err(|_| E::custom(format!("{v} is not a size: {FORMS}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
        parse(v).map(Size).ok_or_else(|| E::custom(format!("{v:?} is not a size: {FORMS}")))
    }
}

fn parse(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        s: Size,
    }

    fn read(value: &str) -> Result<u64, String> {
        toml::from_str::<T>(&format!("s = {value}")).map(|t| t.s.0).map_err(|e| e.to_string())
    }

    #[test]
    fn bytes_or_a_unit() {
        assert_eq!(read("1048576"), Ok(1 << 20));
        assert_eq!(read(r#""16MiB""#), Ok(16 << 20));
        assert_eq!(read(r#""512M""#), Ok(512 << 20));
        assert_eq!(read(r#""1GiB""#), Ok(1 << 30));
        assert_eq!(read(r#""500MB""#), Ok(500_000_000));
        assert_eq!(read(r#""64 KiB""#), Ok(64 << 10));
    }

    #[test]
    fn nonsense_is_refused_naming_the_forms() {
        for bad in [r#""lots""#, r#""12 parsecs""#, r#""-1M""#, "-5", r#""99999999999G""#, "1.5"] {
            let err = read(bad).expect_err(bad);
            assert!(err.contains("size") || err.contains("bytes"), "{bad}: {err}");
        }
    }
}
