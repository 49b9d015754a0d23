-- An attempt whose connection was lost after the message was transmitted, before the server's
-- reply, is tried again (the server never said it took the message); the row remembers that the
-- recipient may have it already, so whatever a later attempt comes to is reported `unknown`.
ALTER TABLE attempts
    ADD COLUMN maybe_delivered boolean NOT NULL DEFAULT false;
