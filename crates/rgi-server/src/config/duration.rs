//! Durations in the configuration file: a number of seconds (`3`, `0.5`)
//! or a string with units (`"3s"`, `"500ms"`, `"2m"`, `"1h 30m"`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A duration as written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span(pub(super) Duration);

impl Span {
    fn from_secs(secs: f64) -> Result<Self, String> {
        Duration::try_from_secs_f64(secs)
            .map(Span)
            .map_err(|_| format!("{secs} is not a duration: give a number of seconds of 0 or more"))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SpanVisitor)
    }
}

struct SpanVisitor;

impl Visitor<'_> for SpanVisitor {
    type Value = Span;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a duration: seconds (3, 0.5) or a string with a unit ("3s", "500ms", "2m")"#)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Span, E> {
        // Whole seconds as written; f64 holds every value a file would use.
        #[allow(clippy::cast_precision_loss, reason = "durations in a config file are far below 2^52 s")]
        Span::from_secs(v as f64).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Span, E> {
        Ok(Span(Duration::from_secs(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Span, E> {
        Span::from_secs(v).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
        humantime::parse_duration(v.trim()).map(Span).map_err(|e| {
            E::custom(format!(
                r#"{v:?} is not a duration ({e}): write seconds as a number, or a string with a unit ("3s", "500ms", "2m")"#
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        d: Span,
    }

    fn parse(value: &str) -> Result<Duration, String> {
        toml::from_str::<T>(&format!("d = {value}")).map(|t| t.d.0).map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_are_seconds_and_strings_carry_units() {
        assert_eq!(parse("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse(r#""3s""#), Ok(Duration::from_secs(3)));
        assert_eq!(parse(r#""500ms""#), Ok(Duration::from_millis(500)));
        assert_eq!(parse(r#""2m""#), Ok(Duration::from_secs(120)));
        assert_eq!(parse(r#""1h 30m""#), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn nonsense_is_refused_with_the_value_and_the_accepted_forms() {
        for bad in [r#""3""#, r#""3x""#, r#""soon""#, "-1", "-0.5", "true"] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains("duration"), "{bad}: {err}");
        }
        assert!(parse(r#""3x""#).unwrap_err().contains(r#""3x""#));
    }
}
