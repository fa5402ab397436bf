-- The language a user's notifications are written in (Telegram messages, e-mails): the
-- one they last chose with the web pages' language switch (or used when they linked
-- Telegram or saved their notification choices), English until then.
ALTER TABLE users ADD COLUMN lang TEXT NOT NULL DEFAULT 'en' CHECK (lang IN ('en', 'ru'));
