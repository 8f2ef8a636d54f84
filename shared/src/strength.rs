//! How guessable a new password is, by zxcvbn (Dropbox's estimator). The `zxcvbn` crate ships
//! its lists of common and breached passwords, words and names inside the binary, so nothing is
//! fetched at run time. NIST SP 800-63B asks for new passwords to be checked against common,
//! breached and context-specific values; the person's own username, e-mail, name and phone are
//! the context.

use zxcvbn::feedback::{Feedback, Suggestion};
use zxcvbn::matching::patterns::MatchPattern;
use zxcvbn::Score;

/// The estimator's work grows faster than the length (about 20 ms for 100 random characters):
/// only this many leading characters are scored. A password whose first 64 characters are hard
/// to guess is hard to guess.
pub const SCORED_CHARS: usize = 64;

/// zxcvbn's own threshold: below 3 (about 10^10 guesses) a password is too weak.
const MIN_SCORE: Score = Score::Three;

/// Why `password` is too easy to guess, or `None` when it is not. `context` holds what the
/// person told us about themselves: a password built from it is weak for them, whatever it looks
/// like to others. CPU work (see [`SCORED_CHARS`]): run it after the cheap checks.
pub fn weakness(password: &str, context: &[&str]) -> Option<String> {
    let scored: String = password.chars().take(SCORED_CHARS).collect();
    let words = context_words(context);
    let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(&scored, &inputs);
    if estimate.score() >= MIN_SCORE {
        return None;
    }
    // zxcvbn says nothing of matches against the context: they are dictionary matches of a
    // word of ours.
    let from_context = estimate.sequence().iter().any(
        |m| matches!(&m.pattern, MatchPattern::Dictionary(d) if words.contains(&d.matched_word)),
    );
    Some(message(from_context, estimate.feedback()))
}

/// The context as zxcvbn matches it, lower-cased: each value whole, and its parts of three
/// characters or more (an e-mail's local part, the words of a name, the runs between a
/// username's punctuation).
fn context_words(context: &[&str]) -> Vec<String> {
    let mut words = Vec::new();
    for value in context.iter().map(|v| v.trim().to_lowercase()) {
        let local = value.split('@').next().unwrap_or_default().to_string();
        let parts: Vec<String> = local
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_string)
            .collect();
        words.extend([value, local].into_iter().chain(parts));
    }
    words.retain(|w| w.chars().count() >= 3);
    words.sort();
    words.dedup();
    words
}

/// "This password is too easy to guess.", why, and zxcvbn's first suggestion.
fn message(from_context: bool, feedback: Option<&Feedback>) -> String {
    let mut message = String::from("This password is too easy to guess.");
    if from_context {
        message.push_str(" It is built from your username, e-mail, name or phone number.");
    } else if let Some(warning) = feedback.and_then(Feedback::warning) {
        message.push_str(&format!(" {warning}"));
    }
    let suggestion = feedback
        .and_then(|f| f.suggestions().first().copied())
        .unwrap_or(Suggestion::AddAnotherWordOrTwo);
    message.push_str(&format!(" {suggestion}"));
    message
}

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
    fn common_and_breached_passwords_are_weak_and_say_why() {
        let top = weakness("12345678", &[]).unwrap();
        assert_eq!(
            top,
            "This password is too easy to guess. This is a top-10 common password. \
             Add another word or two. Uncommon words are better."
        );
        assert!(weakness("password1", &[])
            .unwrap()
            .contains("very common password"));
        assert!(weakness("zxcvbnm,./", &[])
            .unwrap()
            .contains("rows of keys"));
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
        // The published sample of the previous README, and the one that replaced it.
        assert!(weakness("johnDoe@#123", &JOHN).is_some());
        assert_eq!(weakness("Kampala-river-lantern-42", &JOHN), None);
    }

    #[test]
    fn long_passphrases_pass_and_only_a_prefix_is_scored() {
        assert_eq!(weakness("correct horse battery", &[]), None);
        assert_eq!(
            weakness(&format!("{}a", "q8#Lm2@vX9!pR4&z".repeat(8)), &[]),
            None
        );
        // Past the scored prefix nothing counts: 64 × "a" then anything is weak. (NIST asks for
        // no composition rules, and none are made: length and guessability only.)
        assert!(weakness(&format!("{}Zq8#Lm2@vX9!pR4", "a".repeat(64)), &[]).is_some());
    }
}
