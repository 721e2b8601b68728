//! Email addresses: format check and the ASCII-only case folding that makes
//! identities case-insensitive without letting Unicode look-alikes collide.

/// Folds `A`–`Z` to `a`–`z` and leaves every other character alone.
///
/// `str::to_lowercase` is deliberately not used: it maps the Kelvin sign
/// (U+212A) to `k`, which would let `\u{212A}@x.io` take over `k@x.io`.
pub fn fold(email: &str) -> String {
    email.to_ascii_lowercase()
}

/// A pragmatic format check close to PocketBase's `is.EmailFormat`.
pub fn is_valid(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.is_empty() || local.contains('@') {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_is_ascii_only() {
        assert_eq!(fold("Alice@Example.COM"), "alice@example.com");
        assert_ne!(
            fold("\u{212A}@x.io"),
            fold("k@x.io"),
            "Kelvin sign must not fold to k"
        );
        assert_ne!(
            fold("\u{131}@x.io"),
            fold("i@x.io"),
            "dotless i must not fold to i"
        );
    }

    #[test]
    fn format_check_accepts_ordinary_addresses_and_rejects_junk() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org", "x_y@d-1.io"] {
            assert!(is_valid(ok), "{ok} should be valid");
        }
        for bad in [
            "", "plain", "a@b", "@b.co", "a@", "a b@c.io", "a@@b.io", "a@b..io", ".a@b.io",
            "a@-b.io",
        ] {
            assert!(!is_valid(bad), "{bad:?} should be invalid");
        }
    }
}
