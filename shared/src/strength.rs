//! Whether a new password is easy to guess, and why: what NIST SP 800-63B asks a verifier to
//! refuse: values from breach corpora, repetitive or sequential characters, and context-specific
//! words (the person's username, e-mail, name and phone).
//!
//! Hand-written, with a list taken from a crate: the `zxcvbn` crate (the estimator this follows)
//! was measured here at 0.9 MB more per zipped artifact (register's to 5.45 MB) and 7 MB more
//! peak memory, past both budgets of ARCHITECTURE.md §10; the `passwords` crate's list costs
//! 0.8 MB. So `data/common-passwords.txt` holds the 10,000 most common passwords of zxcvbn's
//! ranked list (regenerated from the crate by `data/vendor-common-passwords.sh`), 32 KB zipped,
//! searched in place (no allocation, no start-up work), and the patterns are checked here. A
//! check costs microseconds.

use std::cmp::Ordering;

use crate::validate::MIN_PASSWORD_CHARS;

/// The blocklist: lower-cased, sorted bytewise, one a line.
static COMMON: &str = include_str!("../data/common-passwords.txt");

/// Rows of a US keyboard, unshifted: runs along them are patterns, not choices.
const KEYBOARD_ROWS: [&str; 4] = [
    "`1234567890-=",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
];

/// Why `password` is too easy to guess, or `None` when it is not. `context` holds what the
/// person told us about themselves: a password built from it is weak for them, whatever it looks
/// like to others.
pub fn weakness(password: &str, context: &[&str]) -> Option<String> {
    let lower = password.to_lowercase();
    let rest = without_context(&lower, context);
    // What is left once the person's own words are taken out must stand as a password alone.
    let built_from_context = rest.len() < lower.len()
        && (rest.chars().count() < MIN_PASSWORD_CHARS || guessable(&rest).is_some());
    let why = if built_from_context {
        Some("It is built from your username, e-mail, name or phone number.")
    } else {
        guessable(&lower)
    };
    why.map(|why| {
        format!("This password is too easy to guess. {why} Add another word or two: uncommon words are better.")
    })
}

/// The password less every context word in it (lower-cased, of three characters or more: each
/// value whole, or an e-mail's local part, and the runs of letters and digits between its
/// punctuation).
fn without_context(lower: &str, context: &[&str]) -> String {
    let mut words: Vec<String> = Vec::new();
    for value in context.iter().map(|v| v.trim().to_lowercase()) {
        // Of an e-mail address, the local part: the domain is not the person's.
        let value = value.split('@').next().unwrap_or_default().to_string();
        let parts: Vec<String> = value
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_string)
            .collect();
        words.push(value);
        words.extend(parts);
    }
    words.retain(|w| w.chars().count() >= 3);
    // Longest first, so a whole username goes before a part of it.
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    words.iter().fold(lower.to_string(), |rest, word| {
        rest.replace(word.as_str(), "")
    })
}

/// What makes a lower-cased password guessable without knowing its owner, if anything.
fn guessable(lower: &str) -> Option<&'static str> {
    if is_common(lower) {
        return Some("This is a common password.");
    }
    if variants(lower)
        .iter()
        .any(|v| v.chars().count() >= 4 && is_common(v))
    {
        return Some("This is similar to a common password.");
    }
    pattern(lower)
}

/// The forms a common password hides behind: digits and symbols added before or after it, and
/// the usual substitutions (`p@ssw0rd`).
fn variants(lower: &str) -> Vec<String> {
    let trim = |s: &str| s.trim_matches(|c: char| !c.is_alphabetic()).to_string();
    let unleet = |s: &str, one: char| -> String {
        s.chars()
            .map(|c| match c {
                '@' | '4' => 'a',
                '3' => 'e',
                '1' | '!' | '|' => one,
                '0' => 'o',
                '$' | '5' => 's',
                '7' | '+' => 't',
                other => other,
            })
            .collect()
    };
    let mut out = vec![trim(lower)];
    for one in ['i', 'l'] {
        let plain = unleet(lower, one);
        out.push(trim(&plain));
        // Substitutions inside, digits or symbols at the ends: `P@ssw0rd2024!`.
        let core = lower.trim_end_matches(|c: char| !c.is_alphabetic() && !"@$!|".contains(c));
        out.push(trim(&unleet(core, one)));
    }
    out
}

/// Whether `word` is on the blocklist: a binary search over its sorted lines.
fn is_common(word: &str) -> bool {
    let (list, word) = (COMMON.as_bytes(), word.as_bytes());
    let (mut lo, mut hi) = (0, list.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = list[..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
            .max(lo);
        let end = list[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(list.len(), |i| start + i);
        match list[start..end].cmp(word) {
            Ordering::Equal => return true,
            Ordering::Less => lo = end + 1,
            Ordering::Greater => hi = start,
        }
    }
    false
}

/// Repetitive or sequential characters: the password is a block repeated, or at most three runs
/// of one repeated character, an alphabetical or numerical sequence, or a walk along a keyboard
/// row, each of three characters or more.
fn pattern(lower: &str) -> Option<&'static str> {
    let chars: Vec<char> = lower.chars().collect();
    let n = chars.len();
    // The smallest block the password repeats (a short last chunk differs from the block).
    let block = (1..=n / 2).find(|&len| chars.chunks(len).all(|c| c == &chars[..len]));
    match block {
        Some(1) => return Some(REPEATED_CHARACTER),
        Some(_) => {
            return Some("Repeats like \"abcabc\" are only slightly harder to guess than \"abc\".")
        }
        None => {}
    }
    let mut runs = Vec::new();
    let mut i = 0;
    while i < n {
        let (len, kind) = longest_run(&chars[i..]);
        if len < 3 {
            return None;
        }
        runs.push((len, kind));
        i += len;
    }
    if runs.len() > 3 {
        return None;
    }
    runs.iter()
        .max_by_key(|(len, _)| *len)
        .map(|(_, kind)| *kind)
}

/// The longest run at the start of `chars`, and what it says of it.
fn longest_run(chars: &[char]) -> (usize, &'static str) {
    let step = |a: char, b: char| b as i64 - a as i64;
    let on_row = |a: char, b: char| {
        KEYBOARD_ROWS.iter().find_map(|row| {
            let (x, y) = (row.find(a)?, row.find(b)?);
            Some(y as i64 - x as i64)
        })
    };
    let extend = |same: &dyn Fn(char, char) -> bool| {
        1 + chars.windows(2).take_while(|w| same(w[0], w[1])).count()
    };
    let repeat = extend(&|a, b| a == b);
    let first = chars.get(1).map(|&b| step(chars[0], b));
    let sequence = match first {
        Some(d @ (1 | -1)) => extend(&|a, b| step(a, b) == d && a.is_alphanumeric()),
        _ => 1,
    };
    let first = chars.get(1).and_then(|&b| on_row(chars[0], b));
    let keys = match first {
        Some(d @ (1 | -1)) => extend(&|a, b| on_row(a, b) == Some(d)),
        _ => 1,
    };
    // On a tie the first named wins (`max_by_key` keeps the last maximum).
    [
        (keys, "Straight rows of keys are easy to guess."),
        (sequence, "Sequences like abc or 6543 are easy to guess."),
        (repeat, REPEATED_CHARACTER),
    ]
    .into_iter()
    .max_by_key(|(len, _)| *len)
    .unwrap_or((1, ""))
}

const REPEATED_CHARACTER: &str = "Repeats like \"aaa\" are easy to guess.";

#[cfg(test)]
mod tests {
    use super::*;

    const JOHN: [&str; 4] = [
        "JohnDoe0303",
        "johndoe@example.com",
        "John",
        "+256700123456",
    ];

    #[test]
    fn the_blocklist_is_sorted_and_searched_exactly() {
        let lines: Vec<&str> = COMMON.lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert!(lines.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
        for line in lines
            .iter()
            .step_by(97)
            .chain([lines[0], lines[9_999]].iter())
        {
            assert!(is_common(line), "{line}");
            assert!(!is_common(&format!("{line}\u{1}")), "{line}");
        }
        assert!(!is_common(""));
        assert!(!is_common("kampala-river-lantern-42"));
    }

    #[test]
    fn common_and_breached_passwords_are_weak_and_say_why() {
        assert_eq!(
            weakness("12345678", &[]).unwrap(),
            "This password is too easy to guess. This is a common password. \
             Add another word or two: uncommon words are better."
        );
        for similar in ["Password1!", "P@ssw0rd2024!", "monkey2024", "!!dragon99"] {
            assert!(
                weakness(similar, &[])
                    .unwrap()
                    .contains("similar to a common password"),
                "{similar}"
            );
        }
    }

    #[test]
    fn repeats_sequences_and_keyboard_rows_are_weak() {
        for (password, why) in [
            ("ertyuiop[]", "rows of keys"),
            ("oiuytrewq", "rows of keys"),
            ("aaaaaaaaaa", "Repeats"),
            ("aaaabbbbcccc", "Repeats"),
            ("k9#Lk9#Lk9#L", "Repeats"),
            ("abcdefghij", "Sequences"),
            ("98765432", "Sequences"),
            ("wertyuiop123", "rows of keys"),
            ("98765432qwe", "Sequences"),
        ] {
            let message = weakness(password, &[]).unwrap_or_default();
            assert!(message.contains(why), "{password}: {message}");
        }
    }

    #[test]
    fn a_password_built_from_the_context_is_weak_for_that_person_only() {
        let own = weakness("johndoe0303!", &JOHN).unwrap();
        assert!(own.contains("built from your username"), "{own}");
        assert!(weakness("John-256700123456", &JOHN).is_some());
        assert!(weakness("Opsadmin12345", &["opsadmin"])
            .unwrap()
            .contains("your username"));
        assert_eq!(
            weakness("Opsadmin12345", &[]),
            None,
            "strong enough for someone else"
        );
        // Context words may be part of a longer passphrase.
        assert_eq!(weakness("JohnDoe0303-is-my-login-name-here", &JOHN), None);
        // The published sample of the previous README, and the one that replaced it.
        assert!(weakness("johnDoe@#123", &JOHN).is_some());
        assert_eq!(weakness("Kampala-river-lantern-42", &JOHN), None);
    }

    #[test]
    fn passphrases_and_random_passwords_pass() {
        for strong in [
            "correct horse battery",
            "velvet-mango-orbit-17",
            "a long admin password",
            "Zebra-Quartz-Umbrella",
            "q8#Lm2@vX9!pR4&z",
            "Kampala-river-lantern-42",
        ] {
            assert_eq!(weakness(strong, &[]), None, "{strong}");
        }
    }
}
