//! API v2 client (HstockPlus and PerfectPanel shapes).
