"""`manage.py search_rebuild`: make every search document match its listing (after a restore,
a missed `search` task while the broker was down, or the first deploy of search)."""
from django.core.management.base import BaseCommand

from listings.search.services import search_rebuild


class Command(BaseCommand):
    help = "Index every live listing and delete the search documents of listings that are not live."

    def handle(self, *args, **options):
        result = search_rebuild()
        self.stdout.write(f"search_rebuild: indexed {result['indexed']}, removed {result['removed']}")
