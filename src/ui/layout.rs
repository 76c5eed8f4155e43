//! The frame of every page: navigation, who is logged in, the embedded stylesheet.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::charts::{diverging, full_precision};
use crate::store::sessions::Session;

/// Buckets of the diverging colour classes for ρ: ρ = -1, -0.9, …, 1.
pub(super) const RHO_BUCKETS: i32 = 20;

static STYLESHEET: LazyLock<String> = LazyLock::new(|| {
    let mut css = include_str!("style.css").to_owned();
    // Colours come from classes: the Content-Security-Policy allows no inline style.
    for bucket in 0..=RHO_BUCKETS {
        let colour = diverging(rho_of_bucket(bucket));
        css.push_str(&format!(
            ".rho-{bucket} {{ background-color: {colour}; color: {}; }}\n",
            colour.ink()
        ));
    }
    css
});

fn rho_of_bucket(bucket: i32) -> f64 {
    f64::from(bucket) * 2.0 / f64::from(RHO_BUCKETS) - 1.0
}

/// The colour class of a correlation.
pub(super) fn rho_class(rho: f64) -> String {
    let bucket = ((rho.clamp(-1.0, 1.0) + 1.0) / 2.0 * f64::from(RHO_BUCKETS)).round() as i32;
    format!("rho-{bucket}")
}

pub(super) async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        STYLESHEET.as_str(),
    )
        .into_response()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Section {
    Leaderboard,
    Benchmarks,
    Compare,
    Models,
    Jobs,
}

const SECTIONS: [(Section, &str, &str); 5] = [
    (Section::Leaderboard, "/ui/leaderboard", "Leaderboard"),
    (Section::Benchmarks, "/ui/benchmarks", "Benchmarks"),
    (Section::Compare, "/ui/compare", "Compare"),
    (Section::Models, "/ui/models", "Models"),
    (Section::Jobs, "/ui/jobs", "Jobs"),
];

/// What a page puts in the frame.
pub(super) struct Page<'a> {
    pub title: &'a str,
    pub section: Section,
    /// Seconds after which the browser reloads the page (work is under way), if any.
    pub refresh_secs: Option<u32>,
    pub content: Markup,
}

impl<'a> Page<'a> {
    /// A page that stays as it is until the viewer reloads it.
    pub(super) fn new(title: &'a str, section: Section, content: Markup) -> Page<'a> {
        Page {
            title,
            section,
            refresh_secs: None,
            content,
        }
    }

    /// Reloads the page after `secs` seconds when given: work it shows is under way.
    pub(super) fn refreshing(self, secs: Option<u32>) -> Page<'a> {
        Page {
            refresh_secs: secs,
            ..self
        }
    }

    /// The page in the frame, for the viewer with `session` (none: the public view).
    pub(super) fn respond(self, session: Option<&Session>) -> Response {
        frame(session, self).into_response()
    }
}

/// A page in the frame, for the viewer with `session` (none: the public view).
fn frame(session: Option<&Session>, page: Page<'_>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(page.title, page.refresh_secs))
            body {
                header.top {
                    a.brand href="/ui/leaderboard" { "simbench" }
                    nav {
                        @for (section, href, label) in SECTIONS {
                            a href=(href) class=[(section == page.section).then_some("active")] { (label) }
                        }
                    }
                    div.who {
                        @match session {
                            None => {
                                span { "public view" }
                                a href="/ui/login" { "log in" }
                            }
                            Some(session) => {
                                span.viewer data-scope=(session.scope.name()) {
                                    (session.token_name) " · " (session.scope.name())
                                }
                                form method="post" action="/ui/logout" {
                                    input type="hidden" name="csrf" value=(session.csrf_token);
                                    button #logout type="submit" { "log out" }
                                }
                            }
                        }
                    }
                }
                main { (page.content) }
            }
        }
    }
}

/// A page without navigation: the log-in form and error pages.
pub(super) fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body {
                header.top { a.brand href="/ui/leaderboard" { "simbench" } }
                main { (content) }
            }
        }
    }
}

/// The `head` of every page: its title, the stylesheet, and a reload while work is under way.
fn head(title: &str, refresh_secs: Option<u32>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if let Some(seconds) = refresh_secs {
                meta http-equiv="refresh" content=(seconds);
            }
            title { (title) " · simbench" }
            link rel="stylesheet" href="/ui/style.css";
        }
    }
}

/// A number as printed in tables: three decimals, or a dash when missing.
pub(super) fn fixed(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("{value:.decimals$}"))
}

/// A statistic, printed with `decimals` and carrying its full value; a dash when it is
/// undefined (or not a finite number, which the JSON API shows as `null` too).
pub(super) fn stat_cell(value: Option<f64>, decimals: usize) -> Markup {
    let number = value.filter(|value| value.is_finite());
    html! { td.num data-value=[number.map(full_precision)] { (fixed(number, decimals)) } }
}

/// A count of the table, as a statistic cell without decimals.
pub(super) fn count_cell(count: Option<usize>) -> Markup {
    stat_cell(count.map(|count| count as f64), 0)
}

/// A correlation coloured by its value.
pub(super) fn rho_cell(rho: Option<f64>) -> Markup {
    colour_cell(rho, rho)
}

/// `shown`, coloured by `colour` on the scale of correlations (−1 to 1).
pub(super) fn colour_cell(colour: Option<f64>, shown: Option<f64>) -> Markup {
    html! {
        @match (colour.filter(|value| value.is_finite()), shown.filter(|value| value.is_finite())) {
            (Some(colour), Some(shown)) => { td.num.(rho_class(colour)) data-value=(full_precision(shown)) { (format!("{shown:.3}")) } }
            (_, shown) => { td.num data-value=[shown.map(full_precision)] { (fixed(shown, 3)) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations_fall_in_the_bucket_of_their_colour() {
        assert_eq!(rho_class(-1.0), "rho-0");
        assert_eq!(rho_class(0.0), "rho-10");
        assert_eq!(rho_class(1.0), "rho-20");
        assert_eq!(rho_class(0.84), "rho-18");
        assert!(STYLESHEET.contains(".rho-20 {"));
    }
}
