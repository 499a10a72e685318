from node.cases.models import create_search_index
