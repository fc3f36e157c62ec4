"""Profile photos: the upload/delete mutations and the ``GET /photos/{userId}`` endpoint."""
