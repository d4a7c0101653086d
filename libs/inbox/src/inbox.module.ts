import { Module } from '@nestjs/common';
import { InboxDeliveryService } from './inbox-delivery.service';

const services = [InboxDeliveryService];

@Module({ providers: services, exports: services })
export class InboxModule {}
