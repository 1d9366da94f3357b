//! Small helpers for the few HTML pages the server writes by hand.

/// `text` with the five HTML-special characters escaped, for element content and attributes.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
