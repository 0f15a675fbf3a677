ALTER TABLE users ADD COLUMN created_at text;
UPDATE users SET created_at = '2024-03-05 12:00:00' WHERE created_at IS NULL;
