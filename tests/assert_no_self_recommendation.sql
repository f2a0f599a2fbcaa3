-- A product is never recommended for itself (the tutorial excludes it).
select *
from {{ ref('product_recommendations') }}
where product_id = recommended_product_id
