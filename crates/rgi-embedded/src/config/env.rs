//! Limits passed through the environment, so that one set of limits holds
//! end to end: `rgi-server` hands its `[server.limits]` to its daemons
//! this way, and an application binary behind nginx or Apache reads its
//! own from the variables its start-up script sets.

use std::time::Duration;

use super::Limits;

/// The variables, what they set, and how they read.
const SIZES: [&str; 5] = [
    "RGI_MAX_HEADER_BYTES",
    "RGI_MAX_HEADER_COUNT",
    "RGI_MAX_HEADER_FIELD_BYTES",
    "RGI_MAX_URI_BYTES",
    "RGI_MAX_CONNECTIONS",
];
const BODY: &str = "RGI_MAX_BODY_BYTES";
const TIMES: [&str; 3] = ["RGI_HEADER_READ_TIMEOUT", "RGI_BODY_READ_TIMEOUT", "RGI_KEEP_ALIVE_TIMEOUT"];

impl Limits {
    /// The limits as environment variables: `RGI_MAX_BODY_BYTES` (bytes,
    /// or `none`), `RGI_MAX_HEADER_BYTES`, `RGI_MAX_HEADER_COUNT`,
    /// `RGI_MAX_HEADER_FIELD_BYTES`, `RGI_MAX_URI_BYTES`,
    /// `RGI_MAX_CONNECTIONS`, and the timeouts `RGI_HEADER_READ_TIMEOUT`,
    /// `RGI_BODY_READ_TIMEOUT`, `RGI_KEEP_ALIVE_TIMEOUT` (seconds).
    ///
    /// ```
    /// let mut limits = rgi_embedded::Limits::default();
    /// limits.max_body_bytes = Some(32 << 20);
    /// let vars = limits.to_env();
    /// assert!(vars.contains(&("RGI_MAX_BODY_BYTES", "33554432".to_string())));
    ///
    /// let mut read = rgi_embedded::Limits::default();
    /// read.apply_env(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())).unwrap();
    /// assert_eq!(read.max_body_bytes, Some(32 << 20));
    /// ```
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let sizes = [
            self.max_header_bytes,
            self.max_header_count,
            self.max_header_field_bytes,
            self.max_uri_bytes,
            self.max_connections,
        ];
        let times = [self.header_read_timeout, self.body_read_timeout, self.keep_alive_timeout];
        let mut vars: Vec<(&'static str, String)> = SIZES.iter().zip(sizes).map(|(n, v)| (*n, v.to_string())).collect();
        vars.push((BODY, self.max_body_bytes.map_or_else(|| "none".to_string(), |v| v.to_string())));
        vars.extend(TIMES.iter().zip(times).map(|(n, t)| (*n, t.as_secs_f64().to_string())));
        vars
    }

    /// Sets each limit whose variable `get` returns (see [`Limits::to_env`]);
    /// a malformed value is an error naming the variable and the value.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        let bad = |name: &str, value: &str, want: &str| format!("{name}={value:?}: expected {want}");
        let mut sizes = [
            &mut self.max_header_bytes,
            &mut self.max_header_count,
            &mut self.max_header_field_bytes,
            &mut self.max_uri_bytes,
            &mut self.max_connections,
        ];
        for (name, field) in SIZES.iter().zip(sizes.iter_mut()) {
            if let Some(value) = get(name) {
                **field = value.trim().parse().map_err(|_| bad(name, &value, "a whole number"))?;
            }
        }
        if let Some(value) = get(BODY) {
            self.max_body_bytes = match value.trim() {
                "none" => None,
                text => Some(text.parse().map_err(|_| bad(BODY, &value, "a number of bytes or `none`"))?),
            };
        }
        let mut times = [&mut self.header_read_timeout, &mut self.body_read_timeout, &mut self.keep_alive_timeout];
        for (name, field) in TIMES.iter().zip(times.iter_mut()) {
            if let Some(value) = get(name) {
                let secs: f64 = value.trim().parse().map_err(|_| bad(name, &value, "seconds"))?;
                **field = Duration::try_from_secs_f64(secs).map_err(|_| bad(name, &value, "seconds, 0 or more"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_goes_through_the_environment_and_back() {
        let limits = Limits {
            max_header_bytes: 10_000,
            max_header_count: 7,
            max_header_field_bytes: 900,
            max_uri_bytes: 800,
            max_connections: 5,
            max_body_bytes: None,
            header_read_timeout: Duration::from_millis(1500),
            body_read_timeout: Duration::from_secs(2),
            keep_alive_timeout: Duration::from_secs(3),
            ..Limits::default()
        };
        let vars = limits.to_env();
        let mut read = Limits::default();
        read.apply_env(|n| vars.iter().find(|(v, _)| *v == n).map(|(_, x)| x.clone())).unwrap();
        assert_eq!(format!("{read:?}"), format!("{limits:?}"));
    }

    #[test]
    fn a_malformed_variable_is_named_with_its_value() {
        for (name, value) in
            [("RGI_MAX_BODY_BYTES", "16M"), ("RGI_MAX_HEADER_COUNT", "-1"), ("RGI_BODY_READ_TIMEOUT", "-2")]
        {
            let err = Limits::default().apply_env(|n| (n == name).then(|| value.to_string())).expect_err(name);
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
    }
}
