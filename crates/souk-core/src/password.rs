//! The rule for a new account's password, as the sign-up form states it. Hashing is the
//! caller's (it needs its own threads); this only judges the text.

/// The shortest password a new account may have, in characters.
pub const MIN_PASSWORD: usize = 10;
/// The longest password looked at, in characters (hashing a longer one is wasted work).
pub const MAX_PASSWORD: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
    /// The password and its repetition differ.
    Mismatch,
}

/// The first problem with a new password and its repetition, length before sameness.
pub fn check_new_password(password: &str, repeated: &str) -> Result<(), PasswordProblem> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD {
        return Err(PasswordProblem::TooShort);
    }
    if chars > MAX_PASSWORD {
        return Err(PasswordProblem::TooLong);
    }
    if password != repeated {
        return Err(PasswordProblem::Mismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_passwords() {
        assert_eq!(
            check_new_password("short", "short"),
            Err(PasswordProblem::TooShort)
        );
        // Counted in characters, not bytes.
        assert_eq!(
            check_new_password("пароль123", "пароль123"),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(check_new_password("пароль1234", "пароль1234"), Ok(()));
        let long = "x".repeat(MAX_PASSWORD + 1);
        assert_eq!(
            check_new_password(&long, &long),
            Err(PasswordProblem::TooLong)
        );
        assert_eq!(
            check_new_password("0123456789", "0123456788"),
            Err(PasswordProblem::Mismatch)
        );
        // Length is judged before sameness.
        assert_eq!(
            check_new_password("short", "other"),
            Err(PasswordProblem::TooShort)
        );
    }
}
