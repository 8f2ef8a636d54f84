//! What the fields people type must look like: e-mail, username, phone, customer id, and the
//! shortest password.

/// The shortest password accepted at registration (ARCHITECTURE.md §6).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A plausible e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && s.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && s.chars().all(|c| c.is_ascii_graphic())
}

/// Letters, digits and `@ . + - _`, 3 to 150 characters (Django's rule, which the seed follows).
pub fn is_username(s: &str) -> bool {
    (3..=150).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
}

/// An optional `+` then 7 to 15 digits; spaces and dashes are allowed between digits.
pub fn normalize_phone(s: &str) -> Option<String> {
    let (plus, rest) = match s.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", s),
    };
    let digits: String = rest.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    ((7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("{plus}{digits}"))
}

/// A bank customer id: 1 to 32 letters or digits.
pub fn is_customer_id(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "john.doe+x@mail.example.com"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a@b.", "a b@c.de", "a@@b.co", "a@b..co",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert!(is_username("JohnDoe0303"));
        assert!(is_username("j.doe@bank+1"));
        assert!(!is_username("ab"));
        assert!(!is_username("john doe"));
        assert!(!is_username("<script>"));
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_phone("+256 700-000 000").as_deref(),
            Some("+256700000000")
        );
        assert_eq!(normalize_phone("1234567890").as_deref(), Some("1234567890"));
        assert_eq!(normalize_phone("12345"), None);
        assert_eq!(normalize_phone("+25670000000a"), None);
    }
}
