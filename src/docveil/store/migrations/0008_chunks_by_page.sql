-- A document page's chunks, for text search ranking pictures (the chunk of a picture's page
-- nearest to the query): without it each picture read every chunk of its document.
CREATE INDEX chunks_page ON chunks (tenant_id, document_id, page);
