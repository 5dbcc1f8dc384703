-- Gmail: an outbox item staged from a Gmail draft is linked to it
-- (`gmail-draft:<draft id>`), so the Gmail transport sends that draft after
-- checking it still matches the approved content.
ALTER TABLE outbox_items ADD COLUMN provider_ref TEXT;
CREATE INDEX outbox_items_provider_ref ON outbox_items (provider_ref) WHERE provider_ref IS NOT NULL;
