-- Deliberately fails: order 1006 was entered with quantity 0.
-- It tests fct_orders, a leaf, so the failure skips nothing downstream.
select order_id, quantity
from {{ ref('fct_orders') }}
where quantity <= 0
