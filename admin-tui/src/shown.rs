//! Texts that users wrote (data-protection requests, names), and those that carry them
//! (alerts, the audit trail, replies), drawn so that they cannot drive the terminal or
//! hide what they say: control characters and the Unicode bidirectional controls are
//! shown as `\u{…}`, as the command line prints them, instead of being dropped (which
//! would hide them) or passed on (a U+202E override reverses what follows on screen).

/// `text` on one line, every control and bidirectional control character made visible;
/// a line break becomes a space.
pub fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_shown(&mut out, c, ' ');
    }
    out
}

/// `text` with its line breaks kept (a popup's lines), every other control and
/// bidirectional control character made visible.
pub(crate) fn shown_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_shown(&mut out, c, '\n');
    }
    out
}

fn push_shown(out: &mut String, c: char, line_break: char) {
    match c {
        '\n' => out.push(line_break),
        c if c.is_control() || is_bidi_control(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        c => out.push(c),
    }
}

/// The Unicode bidirectional embeddings, overrides and isolates (and the marks), which
/// reorder the text around them on screen.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{61c}')
}

#[cfg(test)]
mod tests {
    use super::{shown, shown_lines};

    #[test]
    fn controls_and_bidi_overrides_are_shown_not_obeyed_nor_hidden() {
        let hostile = "Effacez\u{1b}]0;pwned\u{7}\u{1b}[2J\r\tnow\u{7f}\u{9b}31m\u{202e}txt.exe\u{2066}\nend";
        let drawn = shown(hostile);
        assert!(!drawn.chars().any(|c| c.is_control()), "{drawn:?}");
        assert_eq!(
            drawn,
            "Effacez\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{d}\\u{9}now\\u{7f}\\u{9b}31m\\u{202e}txt.exe\\u{2066} end"
        );
        assert_eq!(shown_lines("a\u{202e}b\nc"), "a\\u{202e}b\nc");
        assert_eq!(shown("Merci d'effacer mon compte. é ü 中"), "Merci d'effacer mon compte. é ü 中");
    }
}
