//! cryptomus: not written yet.

use reqwest::header::HeaderMap;

use super::{
    CallbackError, CallbackFacts, GatewayClient, GatewayError, Invoice, InvoiceRequest, PaymentRef,
    RemoteState,
};

pub(super) async fn create_invoice(
    _client: &GatewayClient,
    _req: &InvoiceRequest<'_>,
) -> Result<Invoice, GatewayError> {
    Err(GatewayError::NotSent("not written yet".into()))
}

pub(super) async fn fetch_state(
    _client: &GatewayClient,
    _payment: &PaymentRef<'_>,
) -> Result<RemoteState, GatewayError> {
    Err(GatewayError::NotSent("not written yet".into()))
}

pub(super) fn verify_callback(
    _client: &GatewayClient,
    _headers: &HeaderMap,
    _body: &[u8],
) -> Result<CallbackFacts, CallbackError> {
    Err(CallbackError::Unsigned)
}

pub(super) async fn check_keys(_client: &GatewayClient) -> Result<String, GatewayError> {
    Err(GatewayError::NotSent("not written yet".into()))
}
