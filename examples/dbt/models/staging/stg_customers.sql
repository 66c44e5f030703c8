select
    customer_id,
    first_name,
    lower(email) as email,
    cast(joined_on as date) as joined_on
from {{ ref('raw_customers') }}
