//! A buyer's review of a completed order (`/api/v2` `review`, the order page's form):
//! `rating` read from the text the buyer sent, one way for both, then the store's rules
//! (1 to 5 stars, one review per completed order). The operator hides a review (or
//! shows it again) from the console.

use serde_json::json;
use souk_core::ApiError;
use souk_store::{Change, ConsoleReview, Store, StoreError};

use crate::operators::{Acting, OperatorError, Permission};

/// One review to leave.
#[derive(Clone, Debug)]
pub struct Review<'a> {
    pub user_id: &'a str,
    pub order_id: i64,
    /// As sent; absent or blank is "rating is required".
    pub rating: Option<&'a str>,
    pub text: &'a str,
}

/// The review's id, its rating, and the changes the caller's catalogue must follow (the
/// shop's rating moved).
pub async fn leave(
    store: &Store,
    review: Review<'_>,
    now: i64,
) -> Result<(String, i64, Vec<Change>), StoreError> {
    let rating = match review.rating.map(str::trim).filter(|r| !r.is_empty()) {
        None => return Err(StoreError::Rejected(ApiError::FieldRequired("rating"))),
        Some(r) => r
            .parse::<i64>()
            .map_err(|_| StoreError::Rejected(ApiError::InvalidRating))?,
    };
    let (id, changes) = store
        .review_order(review.user_id, review.order_id, rating, review.text, now)
        .await?;
    Ok((id, rating, changes))
}

/// Hides a review from buyers, or shows it again (support and up): the shop's rating
/// follows at once. Audited with the review's state before and after, in the change's
/// transaction; a review already so is refused.
pub async fn set_hidden(
    store: &Store,
    actor: &Acting,
    id: &str,
    hidden: bool,
    now: i64,
) -> Result<(ConsoleReview, Vec<Change>), OperatorError> {
    actor.require(Permission::Moderate)?;
    let view = |r: &ConsoleReview| json!({ "shop": r.shop_id, "order": r.order_id, "rating": r.rating, "hidden": r.hidden });
    let action = if hidden { "review.hide" } else { "review.show" };
    let subject = format!("review:{id}");
    Ok(store
        .hide_review_audited(id, hidden, now, |before, after| {
            actor.audit_entry(action, &subject, Some(view(before)), Some(view(after)))
        })
        .await?)
}
