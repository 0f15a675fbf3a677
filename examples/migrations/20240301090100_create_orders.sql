CREATE TABLE orders (
  id integer PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users (id),
  total_cents integer NOT NULL CHECK (total_cents >= 0),
  created_at text NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX orders_user_id ON orders (user_id);
