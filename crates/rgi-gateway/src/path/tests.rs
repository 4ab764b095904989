use proptest::prelude::*;

use rgi_core::path::{decode, decode_segment};

use super::*;

fn split(target: &str, prefix: &str) -> Option<(String, String)> {
    let t = RequestTarget::parse(target).ok()?;
    let at = t.mount_split(prefix)?;
    let (s, p) = t.raw_path().split_at(at);
    Some((s.to_string(), p.to_string()))
}

#[test]
fn dot_segments_are_removed_escaped_or_not() {
    // PATH-2
    let cases = [
        ("/a/b/../c", "/a/c"),
        ("/a/./b", "/a/b"),
        ("/a/..", "/"),
        ("/a/.", "/a/"),
        ("/..", "/"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/a/%2e%2e/b", "/b"),
        ("/a/%2E./b", "/b"),
        ("/a/.%2e", "/"),
        ("/a/%2e/b", "/a/b"),
        ("/a//../b", "/a/b"),
        ("/a//b", "/a//b"),
        ("/a/...", "/a/..."),
        ("/a/..b", "/a/..b"),
        ("/", "/"),
    ];
    for (input, want) in cases {
        assert_eq!(RequestTarget::parse(input).unwrap().raw_path(), want, "{input}");
    }
}

#[test]
fn invalid_targets_are_refused() {
    // PATH-3
    assert_eq!(RequestTarget::parse("a/b"), Err(PathError::NotAbsolute("a/b".into())));
    assert_eq!(RequestTarget::parse("/a%zzb"), Err(PathError::BadEscape(2)));
    assert_eq!(RequestTarget::parse("/a%2"), Err(PathError::BadEscape(2)));
    assert_eq!(RequestTarget::parse("/a b"), Err(PathError::BadByte(b' ')));
    assert_eq!(RequestTarget::parse("/a\0"), Err(PathError::BadByte(0)));
    assert_eq!(RequestTarget::parse("/\u{e9}").unwrap_err(), PathError::BadByte(0xc3));
    assert!(RequestTarget::parse("/a?b c").is_err());
}

#[test]
fn query_is_raw_and_may_be_empty() {
    // ENV-3
    assert_eq!(RequestTarget::parse("/a").unwrap().query(), "");
    assert_eq!(RequestTarget::parse("/a?").unwrap().query(), "");
    assert_eq!(RequestTarget::parse("/a?x=%20&x=2").unwrap().query(), "x=%20&x=2");
    assert_eq!(RequestTarget::parse("/a?b?c").unwrap().query(), "b?c");
}

#[test]
fn mount_prefix_matches_whole_decoded_segments() {
    // PATH-4
    assert_eq!(split("/app", "/app"), Some(("/app".into(), "".into())));
    assert_eq!(split("/app/", "/app"), Some(("/app".into(), "/".into())));
    assert_eq!(split("/app/x/y", "/app"), Some(("/app".into(), "/x/y".into())));
    assert_eq!(split("/%61pp/x", "/app"), Some(("/%61pp".into(), "/x".into())));
    assert_eq!(split("/apple", "/app"), None);
    assert_eq!(split("/app%2Fx", "/app"), None);
    assert_eq!(split("/ap", "/app"), None);
    assert_eq!(split("/a/b/c", "/a/b"), Some(("/a/b".into(), "/c".into())));
    assert_eq!(split("/x", ""), Some(("".into(), "/x".into())));
    assert_eq!(split("/a%20b/c", "/a b"), Some(("/a%20b".into(), "/c".into())));
}

#[test]
fn asterisk_reaches_only_the_root() {
    // PATH-7
    let t = RequestTarget::parse("*").unwrap();
    assert!(t.is_asterisk());
    assert_eq!(t.mount_split(""), Some(0));
    assert_eq!(t.mount_split("/app"), None);
    assert_eq!(t.raw_path(), "*");
}

#[test]
fn decoding_keeps_encoded_slashes_and_bad_utf8() {
    // PATH-5, PATH-6
    assert_eq!(decode("/a%20b"), "/a b");
    assert_eq!(decode("/a%2Fb"), "/a%2Fb");
    assert_eq!(decode("/a%2fb"), "/a%2Fb");
    assert_eq!(decode("/caf%C3%A9"), "/caf\u{e9}");
    assert_eq!(decode("/x%FF"), "/x%FF");
    assert_eq!(decode("/x%ff%C3%A9"), "/x%FF\u{e9}");
    assert_eq!(decode("/%25"), "/%");
    assert_eq!(decode_segment("a%2Fb"), "a/b");
    assert_eq!(decode_segment("x%ff"), "x%FF");
}

#[test]
fn prefixes_are_validated() {
    assert_eq!(validate_prefix("/").unwrap(), "");
    assert_eq!(validate_prefix("").unwrap(), "");
    assert_eq!(validate_prefix("/a/b").unwrap(), "/a/b");
    for bad in ["a", "/a/", "/a//b", "/a/../b", "/a%20b", "/a?b", "/a\nb"] {
        assert!(validate_prefix(bad).is_err(), "{bad:?}");
    }
}

fn raw_path_strategy() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        "[a-zA-Z0-9._~-]{0,6}",
        Just(".".to_string()),
        Just("..".to_string()),
        Just("%2e%2E".to_string()),
        Just("%2F".to_string()),
        Just("%25".to_string()),
        Just("%20".to_string()),
        Just("%C3%A9".to_string()),
        Just("%FF".to_string()),
        "(%[0-9A-Fa-f]{2}){1,3}",
    ];
    proptest::collection::vec(segment, 0..8).prop_map(|segs| format!("/{}", segs.join("/")))
}

proptest! {
    #[test]
    fn parse_never_panics(s in any::<String>()) {
        // PATH-3
        if let Ok(t) = RequestTarget::parse(&s) {
            let _ = t.mount_split("/a");
            let _ = decode(t.raw_path());
        }
    }

    #[test]
    fn parse_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let s = String::from_utf8_lossy(&bytes);
        if let Ok(t) = RequestTarget::parse(&s) {
            prop_assert!(t.raw_path().starts_with('/') || t.is_asterisk());
        }
    }

    #[test]
    fn split_reconstructs_the_path(path in raw_path_strategy(), prefix in prop_oneof![Just(""), Just("/a"), Just("/a/b"), Just("/%")]) {
        // PATH-1, PATH-4
        let target = RequestTarget::parse(&path).unwrap();
        if let Ok(prefix) = validate_prefix(prefix) {
            if let Some(at) = target.mount_split(&prefix) {
                let (script, info) = target.raw_path().split_at(at);
                prop_assert_eq!(format!("{script}{info}"), target.raw_path());
                prop_assert!(script.is_empty() || (script.starts_with('/') && !script.ends_with('/')));
                prop_assert!(info.is_empty() || info.starts_with('/'));
                prop_assert_eq!(decode(script), prefix);
            }
        }
    }

    #[test]
    fn normalising_is_idempotent_and_removes_dots(path in raw_path_strategy()) {
        // PATH-2
        let once = RequestTarget::parse(&path).unwrap();
        let twice = RequestTarget::parse(once.raw_path()).unwrap();
        prop_assert_eq!(once.raw_path(), twice.raw_path());
        for seg in once.raw_path().split('/') {
            let decoded = decode_segment(seg);
            prop_assert!(decoded != "." && decoded != "..", "dot segment left in {}", once.raw_path());
        }
    }

    #[test]
    fn decoding_never_invents_separators(path in raw_path_strategy()) {
        // PATH-5
        let decoded = decode(&path);
        prop_assert_eq!(decoded.matches('/').count(), path.matches('/').count());
    }

    #[test]
    fn decode_inverts_encode(s in any::<String>()) {
        // PATH-5, PATH-6: encode is the way back for any decoded path.
        let encoded = encode(&s);
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
        let decoded = decode(&encoded).into_owned();
        prop_assert_eq!(decoded, s);
    }
}
