//! What the fields people type must look like: e-mail, username (one script), phone, customer
//! id, and the shortest password.

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

/// What is wrong with a new username, if anything: the characters and length of
/// [`is_username`], then one script only (UTS #39 single-script, so `раypal` with a Cyrillic
/// а and р is refused while a wholly Cyrillic name is not; digits and `@ . + - _` belong to
/// every script). Look-alikes of a name in one script are kept apart by the uniqueness key
/// ([`crate::model::username_key`]).
pub fn username_problem(s: &str) -> Option<&'static str> {
    use unicode_security::MixedScript;
    if !is_username(s) {
        Some(USERNAME_CHARACTERS)
    } else if !s.is_single_script() {
        Some(USERNAME_ONE_SCRIPT)
    } else {
        None
    }
}

/// The refusal of a username with other characters, or too short or long.
pub const USERNAME_CHARACTERS: &str = "Use 3 to 150 letters, digits and @ . + - _ only.";

/// The refusal of a username that mixes scripts.
pub const USERNAME_ONE_SCRIPT: &str =
    "Use letters of one script only: this name mixes scripts (such as Latin and Cyrillic) that look alike.";

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
    fn usernames_keep_to_one_script() {
        assert_eq!(username_problem("JohnDoe0303"), None);
        assert_eq!(username_problem("\u{438}\u{432}\u{430}\u{43d}_77"), None); // иван_77
        assert_eq!(username_problem("\u{3b1}\u{3bb}\u{3c6}\u{3b1}.1"), None); // αλφα.1
        assert_eq!(username_problem("\u{430}dmin"), Some(USERNAME_ONE_SCRIPT));
        assert_eq!(username_problem("p\u{430}ypal"), Some(USERNAME_ONE_SCRIPT));
        assert_eq!(username_problem("ab"), Some(USERNAME_CHARACTERS));
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
