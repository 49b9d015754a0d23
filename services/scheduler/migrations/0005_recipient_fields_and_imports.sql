-- Recipients' custom (merge) fields, the names a list's recipients use, soft deletion of lists and
-- the reports of CSV imports.

-- A recipient's merge fields (`shared.contracts.RecipientFields`): names are identifiers, values text.
ALTER TABLE recipients ADD COLUMN fields jsonb NOT NULL DEFAULT '{}';

ALTER TABLE lists
    -- The union of the custom field names of the list's recipients, kept up to date on every add and
    -- import: a campaign's template is checked against it without reading the recipients.
    ADD COLUMN field_names text[] NOT NULL DEFAULT '{}',
    -- How many recipients the list holds, kept up to date with them: read by every listing and
    -- by the cap on a list's size, without counting a million rows each time.
    ADD COLUMN recipient_count bigint NOT NULL DEFAULT 0,
    -- A deleted list keeps its row (its campaigns' history refers to it) but loses its recipients and
    -- disappears from the API.
    ADD COLUMN deleted_at timestamptz;

UPDATE lists SET recipient_count = counted.n
FROM (SELECT list_id, count(*) AS n FROM recipients GROUP BY list_id) AS counted
WHERE lists.id = counted.list_id;

-- `GET /lists`: a tenant's live lists, newest first, paged by (created_at, id).
CREATE INDEX lists_tenant_page_idx ON lists (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- A CSV import's report (`POST /lists/{id}/imports`), kept so that it can be read again.
CREATE TABLE list_imports (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    list_id     uuid NOT NULL REFERENCES lists (id),
    tenant_id   uuid NOT NULL,
    report      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX list_imports_list_idx ON list_imports (list_id, created_at DESC);
