//! A buyer's review of a completed order (`/api/v2` `review`, the order page's form):
//! `rating` read from the text the buyer sent, one way for both, then the store's rules
//! (1 to 5 stars, one review per completed order).

use souk_core::ApiError;
use souk_store::{Change, Store, StoreError};

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
