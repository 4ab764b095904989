//! Further CGI variables a front passed, kept in one string.

use std::fmt;

/// The CGI variables of a request that rgi does not interpret
/// (`DOCUMENT_ROOT`, `SERVER_SOFTWARE`, ...), in the order they came
/// (CGI-4). Names and values share one buffer: a front such as nginx sends
/// half a dozen of them with every request.
///
/// ```
/// use rgi_core::environ::Vars;
///
/// let vars = Vars::from_pairs([(&b"DOCUMENT_ROOT"[..], &b"/srv"[..])].into_iter());
/// assert_eq!(vars.get("DOCUMENT_ROOT"), Some("/srv"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Vars {
    text: String,
    /// Where each name and each value ends in `text`, alternately.
    ends: Vec<usize>,
}

impl Vars {
    /// Builds from pairs whose total size is known up front: one
    /// allocation for the text, one for the bounds. Bytes that are not
    /// UTF-8 become U+FFFD.
    pub fn from_pairs<'a>(pairs: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Self {
        let size = pairs.clone().map(|(n, v)| n.len() + v.len()).sum();
        let mut vars = Self { text: String::with_capacity(size), ends: Vec::with_capacity(pairs.len() * 2) };
        for (name, value) in pairs {
            push_lossy(&mut vars.text, name);
            vars.ends.push(vars.text.len());
            push_lossy(&mut vars.text, value);
            vars.ends.push(vars.text.len());
        }
        vars
    }

    /// The variables, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        let mut pieces = starts.zip(self.ends.iter().copied()).map(|(start, end)| &self.text[start..end]);
        std::iter::from_fn(move || Some((pieces.next()?, pieces.next()?)))
    }

    /// The value of the variable `name` (the last, if it came twice).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().filter(|(n, _)| *n == name).last().map(|(_, v)| v)
    }

    /// How many variables there are.
    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

fn push_lossy(text: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(valid) => text.push_str(valid),
        Err(_) => text.push_str(&String::from_utf8_lossy(bytes)),
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Vars;

    #[test]
    fn pairs_come_back_in_order() {
        let pairs = [("DOCUMENT_ROOT", "/srv"), ("EMPTY", ""), ("", "no name"), ("DOCUMENT_ROOT", "/other")];
        let vars = Vars::from_pairs(pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        assert_eq!(vars.iter().collect::<Vec<_>>(), pairs);
        assert_eq!(vars.len(), 4);
        assert_eq!(vars.get("DOCUMENT_ROOT"), Some("/other"));
        assert_eq!(vars.get("EMPTY"), Some(""));
        assert_eq!(vars.get("MISSING"), None);
        assert!(Vars::default().is_empty());
        assert_eq!(format!("{:?}", Vars::from_pairs([(&b"A"[..], &b"1"[..])].into_iter())), r#"{"A": "1"}"#);
        let lossy = Vars::from_pairs([(&b"X"[..], &b"a\xffb"[..])].into_iter());
        assert_eq!(lossy.get("X"), Some("a\u{fffd}b"));
    }
}
