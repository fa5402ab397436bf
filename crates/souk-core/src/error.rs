//! The catalogue of every error a buyer can see. The seed's strings are exact; the rest are
//! short English sentences in the same style. The docs page lists `ApiError::examples()`.

/// The most ids a multi-id request may carry (`orders`, `refills`, `productIds`).
pub const MAX_IDS: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    // The seed's own strings.
    #[error("Invalid API key")]
    InvalidApiKey,
    #[error("Invalid action")]
    InvalidAction,
    #[error("Service ID is required")]
    ServiceIdRequired,
    #[error("Insufficient balance")]
    InsufficientBalance,
    #[error("Order not found")]
    OrderNotFound,
    #[error("Service not found")]
    ServiceNotFound,
    #[error("Incorrect order ID")]
    IncorrectOrderId,

    // Request shape.
    #[error("Invalid JSON body")]
    InvalidJson,
    #[error("JSON body must be an object")]
    JsonNotObject,
    #[error("Unsupported content type")]
    UnsupportedContentType,
    #[error("Invalid form body")]
    InvalidForm,
    #[error("Request body too large (max 1 MiB)")]
    BodyTooLarge,
    #[error("Request body could not be read")]
    BodyUnreadable,
    #[error("Too many requests, slow down")]
    RateLimited,
    #[error("Too many parameters (max 1000)")]
    TooManyParams,
    #[error("Invalid characters in {0}")]
    InvalidCharacters(String),
    #[error("Internal error")]
    Internal,

    // Parameters.
    #[error("Unsupported language")]
    UnsupportedLanguage,
    #[error("Page must be a positive integer")]
    InvalidPage,
    #[error("Limit must be a non-negative integer")]
    InvalidLimit,
    #[error("entityType must be product or smm")]
    InvalidEntityType,
    #[error("isRecommended must be true or false")]
    InvalidBoolean,
    #[error("Invalid product ID: {0}")]
    InvalidProductId(String),
    #[error("Too many {0} IDs (max 100)")]
    TooManyIds(&'static str),
    #[error("Subcategory ID is required")]
    SubcategoryIdRequired,
    #[error("Subcategory not found")]
    SubcategoryNotFound,
    #[error("Shop not found")]
    ShopNotFound,

    // Orders.
    #[error("Order ID is required")]
    OrderIdRequired,
    #[error("Quantity is required")]
    QuantityRequired,
    #[error("Quantity must be a positive integer")]
    InvalidQuantity,
    #[error("Quantity must be between {0} and {1}")]
    QuantityOutOfRange(i64, i64),
    #[error("Link is required")]
    LinkRequired,
    #[error("Link is too long (max 2048 characters)")]
    LinkTooLong,
    #[error("Not enough stock")]
    NotEnoughStock,
    #[error("Subproduct not found")]
    SubproductNotFound,
    #[error("Idempotency key is too long (max 128 characters)")]
    IdempotencyKeyTooLong,
    #[error("Idempotency key was used for a different order")]
    IdempotencyKeyReused,
    #[error("{0} is required")]
    FieldRequired(&'static str),
    #[error("Invalid {0}")]
    InvalidField(&'static str),
    #[error("Drip-feed is not available for this service")]
    DripFeedUnsupported,
    /// A field of another SMM type (field, the service's type).
    #[error("{0} is not a parameter of {1} services")]
    FieldNotForType(&'static str, &'static str),
    /// A mass order line that is not `service|link|quantity`.
    #[error("Each line must be service|link|quantity")]
    BadMassLine,
    #[error("Too many lines (max {0})")]
    TooManyLines(usize),
    /// A `currency` the installation does not show prices in.
    #[error("Unknown currency")]
    UnknownCurrency,
    #[error("Too many orders at once, try again")]
    Busy,
    #[error("Refill is not available for this order")]
    RefillNotAvailable,
    #[error("The provider did not accept the refill, try again later")]
    RefillFailed,
    #[error("Refill is not available for drip-feed orders run in parts")]
    RefillDripFeedRuns,
    #[error("Refill ID is required")]
    RefillIdRequired,
    #[error("Refill not found")]
    RefillNotFound,

    // SMS verification.
    #[error("Project ID is required")]
    SmsProjectRequired,
    #[error("Project not found")]
    SmsProjectNotFound,
    #[error("Country not found")]
    SmsCountryNotFound,
    #[error("This project is not available in this country")]
    SmsNotOffered,
    #[error("No numbers available, try again later")]
    SmsNoNumbers,
    #[error("Phone number is not available for this project")]
    SmsPhoneNotAvailable,
    #[error("Phone number is busy, try again later")]
    SmsPhoneBusy,
    #[error("Only one number can be re-rented at a time")]
    SmsPhoneWithQuantity,

    // Disputes and reviews (documented extensions).
    #[error("Message is too long (max 2000 characters)")]
    MessageTooLong,
    #[error("A dispute is already open for this order")]
    DisputeAlreadyOpen,
    #[error("This order is already fully refunded")]
    OrderFullyRefunded,
    #[error("Rating must be between 1 and 5")]
    InvalidRating,
    #[error("Only a completed order can be reviewed")]
    ReviewNotAllowed,
    #[error("This order has already been reviewed")]
    AlreadyReviewed,
}

impl ApiError {
    /// One example of every error, in catalogue order, for the docs page.
    pub fn examples() -> Vec<ApiError> {
        use ApiError::*;
        vec![
            InvalidApiKey,
            InvalidAction,
            ServiceIdRequired,
            InsufficientBalance,
            OrderNotFound,
            ServiceNotFound,
            IncorrectOrderId,
            InvalidJson,
            JsonNotObject,
            UnsupportedContentType,
            InvalidForm,
            BodyTooLarge,
            BodyUnreadable,
            RateLimited,
            TooManyParams,
            InvalidCharacters("link".into()),
            Internal,
            UnsupportedLanguage,
            InvalidPage,
            InvalidLimit,
            InvalidEntityType,
            InvalidBoolean,
            InvalidProductId("abc".into()),
            TooManyIds("order"),
            SubcategoryIdRequired,
            SubcategoryNotFound,
            ShopNotFound,
            OrderIdRequired,
            QuantityRequired,
            InvalidQuantity,
            QuantityOutOfRange(10, 10000),
            LinkRequired,
            LinkTooLong,
            NotEnoughStock,
            SubproductNotFound,
            IdempotencyKeyTooLong,
            IdempotencyKeyReused,
            FieldRequired("comments"),
            InvalidField("runs"),
            DripFeedUnsupported,
            FieldNotForType("answer_number", "Custom Comments"),
            BadMassLine,
            TooManyLines(100),
            UnknownCurrency,
            Busy,
            RefillNotAvailable,
            RefillFailed,
            RefillDripFeedRuns,
            RefillIdRequired,
            RefillNotFound,
            SmsProjectRequired,
            SmsProjectNotFound,
            SmsCountryNotFound,
            SmsNotOffered,
            SmsNoNumbers,
            SmsPhoneNotAvailable,
            SmsPhoneBusy,
            SmsPhoneWithQuantity,
            MessageTooLong,
            DisputeAlreadyOpen,
            OrderFullyRefunded,
            InvalidRating,
            ReviewNotAllowed,
            AlreadyReviewed,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_strings_are_exact() {
        assert_eq!(ApiError::InvalidApiKey.to_string(), "Invalid API key");
        assert_eq!(ApiError::InvalidAction.to_string(), "Invalid action");
        assert_eq!(
            ApiError::ServiceIdRequired.to_string(),
            "Service ID is required"
        );
        assert_eq!(
            ApiError::InsufficientBalance.to_string(),
            "Insufficient balance"
        );
        assert_eq!(ApiError::OrderNotFound.to_string(), "Order not found");
        assert_eq!(ApiError::ServiceNotFound.to_string(), "Service not found");
        assert_eq!(ApiError::IncorrectOrderId.to_string(), "Incorrect order ID");
        assert_eq!(
            ApiError::TooManyIds("order").to_string(),
            "Too many order IDs (max 100)"
        );
        assert_eq!(
            ApiError::QuantityOutOfRange(10, 10000).to_string(),
            "Quantity must be between 10 and 10000"
        );
    }
}
